/** The one-step kind's tables: accuracy by length, capacity per method, decoding time (rows for report and figures). */
import { countedRecords, LOSSLESS_THRESHOLD, meanStd } from '../../../metrics/aggregate.ts';
import { median } from '../../../metrics/stats.ts';
import type { OneStepRecord, SampleRecord } from './records.ts';

export interface OneStepAccuracyRow {
  model: string;
  source: string;
  /** "one-step (per_text)", "one-step (shared)" or "autoregressive, K = k". */
  method: string;
  length: number;
  texts: number;
  best_accuracy_mean: number | null;
  best_accuracy_std: number | null;
  /** Texts with accuracy ≥ 0.99. */
  success_rate: number | null;
  /** Autoregressive only: exact greedy regeneration. */
  exact_rate: number | null;
}

export interface OneStepCapacityRow {
  model: string;
  source: string;
  method: string;
  /** Largest length with mean best accuracy ≥ 0.99; null: none. */
  capacity: number | null;
  lengths: number;
  texts: number;
}

export interface DecodeTimeRow {
  model: string;
  length: number;
  n_targets: number;
  timed_texts: number;
  /** Medians over the timed texts of each text's median run, ms. */
  onepass_ms: number;
  greedy_ms: number;
  /** Fastest run over all timed texts, ms. */
  onepass_min_ms: number;
  greedy_min_ms: number;
  /** greedy_min_ms / onepass_min_ms. */
  speedup: number;
  /** Tokens per second of the fastest runs. */
  onepass_tokens_per_s: number;
  greedy_tokens_per_s: number;
}

const methodOf = (r: OneStepRecord) => `one-step (${r.m_sharing})`;
const arMethod = (k: number) => `autoregressive, K = ${k}`;

export function oneStepAccuracyTable(
  records: readonly OneStepRecord[],
  ar: readonly SampleRecord[],
): OneStepAccuracyRow[] {
  const groups = new Map<
    string,
    { model: string; source: string; method: string; length: number; acc: number[]; exact: boolean[] }
  >();
  const add = (model: string, source: string, method: string, length: number, acc: number, exact: boolean | null) => {
    const k = [model, source, method, length].join('\u0000');
    const g = groups.get(k) ?? { model, source, method, length, acc: [], exact: [] };
    g.acc.push(acc);
    if (exact !== null) g.exact.push(exact);
    groups.set(k, g);
  };
  for (const r of records) add(r.model, r.source, methodOf(r), r.length, r.best_accuracy, null);
  for (const r of countedRecords(ar))
    add(r.model, r.source, arMethod(r.n_mem), r.length, r.best_accuracy, r.regenerated_exact);
  return [...groups.values()]
    .map((g) => {
      const ms = meanStd(g.acc);
      return {
        model: g.model,
        source: g.source,
        method: g.method,
        length: g.length,
        texts: g.acc.length,
        best_accuracy_mean: ms.mean,
        best_accuracy_std: ms.std,
        success_rate: g.acc.filter((a) => a >= LOSSLESS_THRESHOLD).length / g.acc.length,
        exact_rate: g.exact.length ? g.exact.filter(Boolean).length / g.exact.length : null,
      };
    })
    .sort(
      (a, b) =>
        a.model.localeCompare(b.model) ||
        a.source.localeCompare(b.source) ||
        a.method.localeCompare(b.method) ||
        a.length - b.length,
    );
}

export function oneStepCapacityTable(acc: readonly OneStepAccuracyRow[]): OneStepCapacityRow[] {
  const groups = new Map<string, OneStepAccuracyRow[]>();
  for (const r of acc)
    groups.set([r.model, r.source, r.method].join('\u0000'), [
      ...(groups.get([r.model, r.source, r.method].join('\u0000')) ?? []),
      r,
    ]);
  return [...groups.values()].map((rs) => ({
    model: rs[0].model,
    source: rs[0].source,
    method: rs[0].method,
    capacity: rs
      .filter((r) => (r.best_accuracy_mean ?? 0) >= LOSSLESS_THRESHOLD)
      .reduce<number | null>((a, r) => (a === null || r.length > a ? r.length : a), null),
    lengths: rs.length,
    texts: rs.reduce((a, r) => a + r.texts, 0),
  }));
}

export function decodeTimeTable(records: readonly OneStepRecord[]): DecodeTimeRow[] {
  const groups = new Map<string, OneStepRecord[]>();
  for (const r of records)
    if (r.decode_onepass_ms !== null && r.decode_greedy_ms !== null)
      groups.set(`${r.model}\u0000${r.length}`, [...(groups.get(`${r.model}\u0000${r.length}`) ?? []), r]);
  return [...groups.values()]
    .map((rs) => {
      const one = median(rs.map((r) => r.decode_onepass_ms!));
      const greedy = median(rs.map((r) => r.decode_greedy_ms!));
      const oneMin = Math.min(...rs.map((r) => r.decode_onepass_min_ms ?? r.decode_onepass_ms!));
      const greedyMin = Math.min(...rs.map((r) => r.decode_greedy_min_ms ?? r.decode_greedy_ms!));
      const n = rs[0].n_targets;
      return {
        model: rs[0].model,
        length: rs[0].length,
        n_targets: n,
        timed_texts: rs.length,
        onepass_ms: one,
        greedy_ms: greedy,
        onepass_min_ms: oneMin,
        greedy_min_ms: greedyMin,
        speedup: greedyMin / oneMin,
        onepass_tokens_per_s: (n / oneMin) * 1000,
        greedy_tokens_per_s: (n / greedyMin) * 1000,
      };
    })
    .sort((a, b) => a.model.localeCompare(b.model) || a.length - b.length);
}

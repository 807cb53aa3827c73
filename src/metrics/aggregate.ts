/**
 * Statistics over finished texts (SampleRecord[]), with the paper's rules:
 * - decoding capacity: the largest tested length whose MEAN best_accuracy over its samples is ≥ 0.99;
 * - token / information gain: mean ± sample std over samples with best_accuracy ≤ 0.99, pooled over all lengths;
 * - Figure 3: slope-1 fit over samples with best_accuracy < 0.99, red line = max compressed CE over samples ≥ 0.99.
 * A record whose text had fewer tokens than its length (n_tokens < length; older runs crammed such texts) is not a
 * sample at that length: every statistic here leaves it out (`countedRecords`), so capacity is never credited beyond
 * the tokens actually crammed.
 */
import type { SampleRecord } from '../results/sample-record.ts';
import { theoreticalCapacity } from './text-metrics.ts';

/** The paper's threshold `thr = 0.99`. */
export const LOSSLESS_THRESHOLD = 0.99;

export interface MeanStd {
  /** null when there are no values. */
  mean: number | null;
  /** Sample standard deviation (n − 1); null when there are fewer than two values. */
  std: number | null;
  n: number;
}

/** Mean and sample std (n − 1), ignoring non-finite values. */
export function meanStd(values: readonly number[]): MeanStd {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { mean: null, std: null, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, std: null, n };
  const ss = xs.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}

/** The records that are samples at their length: the text had at least `length` tokens. */
export function countedRecords<T extends Pick<SampleRecord, 'length' | 'n_tokens'>>(records: readonly T[]): T[] {
  return records.filter((r) => r.n_tokens >= r.length);
}

/** Group by a string key, keeping first-seen order. */
function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const g = m.get(k);
    if (g) g.push(it);
    else m.set(k, [it]);
  }
  return m;
}

const SEP = '\u0000';

function rate(rs: readonly SampleRecord[], pred: (r: SampleRecord) => boolean): number | null {
  return rs.length === 0 ? null : rs.filter(pred).length / rs.length;
}

/** Order groups by model (embed_dim, then name), source, K, length. */
function compareKeys(
  a: { model: string; source: string; n_mem: number; embed_dim: number; length?: number },
  b: { model: string; source: string; n_mem: number; embed_dim: number; length?: number },
): number {
  return (
    a.embed_dim - b.embed_dim ||
    a.model.localeCompare(b.model) ||
    a.source.localeCompare(b.source) ||
    a.n_mem - b.n_mem ||
    (a.length ?? 0) - (b.length ?? 0)
  );
}

// ---------------------------------------------------------------- accuracy by length

export interface AccuracyByLengthRow {
  model: string;
  source: string;
  n_mem: number;
  length: number;
  embed_dim: number;
  n_samples: number;
  best_accuracy_mean: number;
  /** Sample std; null with a single sample. */
  best_accuracy_std: number | null;
  original_accuracy_mean: number;
  /** Mean over the samples of the paper's CEs (nats). */
  original_ce_mean: number;
  compressed_ce_mean: number;
  /** Fraction of samples whose greedy regeneration was exact. */
  exact_rate: number;
}

/** Per (model, source, n_mem, length): mean/std of best_accuracy, mean original accuracy, count, exact rate. */
export function accuracyByLength(all: readonly SampleRecord[]): AccuracyByLengthRow[] {
  const records = countedRecords(all);
  const groups = groupBy(records, (r) => [r.model, r.source, r.n_mem, r.length].join(SEP));
  const rows: AccuracyByLengthRow[] = [];
  for (const rs of groups.values()) {
    const r0 = rs[0]!;
    const acc = meanStd(rs.map((r) => r.best_accuracy));
    rows.push({
      model: r0.model,
      source: r0.source,
      n_mem: r0.n_mem,
      length: r0.length,
      embed_dim: r0.embed_dim,
      n_samples: rs.length,
      best_accuracy_mean: acc.mean ?? NaN,
      best_accuracy_std: acc.std,
      original_accuracy_mean: meanStd(rs.map((r) => r.original_accuracy)).mean ?? NaN,
      original_ce_mean: meanStd(rs.map((r) => r.original_ce)).mean ?? NaN,
      compressed_ce_mean: meanStd(rs.map((r) => r.compressed_ce)).mean ?? NaN,
      exact_rate: rate(rs, (r) => r.regenerated_exact) ?? NaN,
    });
  }
  return rows.sort(compareKeys);
}

// ---------------------------------------------------------------- capacity table

export interface CapacityRow {
  model: string;
  source: string;
  n_mem: number;
  embed_dim: number;
  embedding_rows: number;
  /** Largest length whose mean best_accuracy ≥ 0.99; null when no length reaches it. */
  capacity: number | null;
  /** Distinct lengths tested. */
  n_lengths: number;
  /** All samples of the group. */
  n_samples: number;
  /** Samples with best_accuracy ≤ 0.99 (those feeding the gains). */
  n_saturated: number;
  token_gain_mean: number | null;
  token_gain_std: number | null;
  info_gain_nats_mean: number | null;
  info_gain_nats_std: number | null;
  /** Eq. 1: K · d · 16 / log2(V), tokens (K vectors carry K times the bits). */
  theoretical_capacity: number;
  /** token_gain_mean / theoretical_capacity; null without saturated samples. */
  utilization: number | null;
  /** Fraction of all samples whose greedy regeneration was exact. */
  exact_rate: number | null;
}

/**
 * Per (model, source, n_mem): capacity, gains over saturated samples, theoretical capacity, utilization.
 * Random-word sources (one sample per sampled length) follow the same rule on each distinct length.
 */
export function capacityTable(all: readonly SampleRecord[]): CapacityRow[] {
  const records = countedRecords(all);
  const groups = groupBy(records, (r) => [r.model, r.source, r.n_mem].join(SEP));
  const rows: CapacityRow[] = [];
  for (const rs of groups.values()) {
    const r0 = rs[0]!;
    let capacity: number | null = null;
    const byLength = groupBy(rs, (r) => String(r.length));
    for (const ls of byLength.values()) {
      const m = meanStd(ls.map((r) => r.best_accuracy)).mean;
      if (m !== null && m >= LOSSLESS_THRESHOLD && (capacity === null || ls[0]!.length > capacity)) {
        capacity = ls[0]!.length;
      }
    }
    const saturated = rs.filter((r) => r.best_accuracy <= LOSSLESS_THRESHOLD);
    const tg = meanStd(saturated.map((r) => r.token_gain));
    const ig = meanStd(saturated.map((r) => r.info_gain_nats));
    const theo = r0.n_mem * theoreticalCapacity(r0.embed_dim, r0.embedding_rows);
    rows.push({
      model: r0.model,
      source: r0.source,
      n_mem: r0.n_mem,
      embed_dim: r0.embed_dim,
      embedding_rows: r0.embedding_rows,
      capacity,
      n_lengths: byLength.size,
      n_samples: rs.length,
      n_saturated: saturated.length,
      token_gain_mean: tg.mean,
      token_gain_std: tg.std,
      info_gain_nats_mean: ig.mean,
      info_gain_nats_std: ig.std,
      theoretical_capacity: theo,
      utilization: tg.mean === null ? null : tg.mean / theo,
      exact_rate: rate(rs, (r) => r.regenerated_exact),
    });
  }
  return rows.sort(compareKeys);
}

// ---------------------------------------------------------------- Figure 3 fit

export interface SlopeOneFit {
  /** Intercept of y = x + b; null when there are no points. */
  b: number | null;
  n: number;
  /** Root-mean-square residual of the fit; null when there are no points. */
  rmse: number | null;
}

/** Least squares of y = x + b with the slope fixed at 1: b = mean(y − x). */
export function slopeOneFit(xs: readonly number[], ys: readonly number[]): SlopeOneFit {
  if (xs.length !== ys.length) throw new Error(`slopeOneFit: ${xs.length} xs but ${ys.length} ys`);
  const d: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    const v = ys[i]! - xs[i]!;
    if (Number.isFinite(v)) d.push(v);
  }
  if (d.length === 0) return { b: null, n: 0, rmse: null };
  const b = d.reduce((a, v) => a + v, 0) / d.length;
  const rmse = Math.sqrt(d.reduce((a, v) => a + (v - b) ** 2, 0) / d.length);
  return { b, n: d.length, rmse };
}

export interface CeThresholdRow {
  model: string;
  source: string;
  n_mem: number;
  embed_dim: number;
  /** Samples with best_accuracy < 0.99 used in the fit. */
  n_fit: number;
  /** Intercept of compressed_ce = original_ce + b; null without samples to fit. */
  b: number | null;
  /** −b: the vector's capacity in nats (C_H). */
  c_h: number | null;
  rmse: number | null;
  /** Samples with best_accuracy ≥ 0.99. */
  n_lossless: number;
  /** Red dotted line: max compressed_ce over samples with best_accuracy ≥ 0.99; null when there are none. */
  red_line: number | null;
  /** Range of original_ce over the fitted samples (where the fit line is drawn). */
  fit_x_min: number | null;
  fit_x_max: number | null;
}

/** Figure 3 quantities per (model, source, n_mem); the paper's figure is K = 1. */
export function ceThresholdFits(all: readonly SampleRecord[]): CeThresholdRow[] {
  const records = countedRecords(all);
  const groups = groupBy(records, (r) => [r.model, r.source, r.n_mem].join(SEP));
  const rows: CeThresholdRow[] = [];
  for (const rs of groups.values()) {
    const r0 = rs[0]!;
    const fitSet = rs.filter((r) => r.best_accuracy < LOSSLESS_THRESHOLD);
    const lossless = rs.filter((r) => r.best_accuracy >= LOSSLESS_THRESHOLD);
    const fit = slopeOneFit(
      fitSet.map((r) => r.original_ce),
      fitSet.map((r) => r.compressed_ce),
    );
    const xs = fitSet.map((r) => r.original_ce).filter(Number.isFinite);
    const ys = lossless.map((r) => r.compressed_ce).filter(Number.isFinite);
    rows.push({
      model: r0.model,
      source: r0.source,
      n_mem: r0.n_mem,
      embed_dim: r0.embed_dim,
      n_fit: fit.n,
      b: fit.b,
      c_h: fit.b === null ? null : -fit.b,
      rmse: fit.rmse,
      n_lossless: lossless.length,
      red_line: ys.length ? Math.max(...ys) : null,
      fit_x_min: xs.length ? Math.min(...xs) : null,
      fit_x_max: xs.length ? Math.max(...xs) : null,
    });
  }
  return rows.sort(compareKeys);
}

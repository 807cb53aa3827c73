/** The side-effects report: held-out loss and accuracy after each kind of prefix. */
import { mean, std } from '../../../metrics/stats.ts';
import { fmt, pct } from '../../../report/format.ts';
import { mdTable, type ReportContent } from '../../../report/report.ts';
import { toCsv } from '../../../report/tables.ts';
import { describeBadLines } from '../../../results/run-folder.ts';
import type { ReportInput } from '../../kind.ts';
import { CONDITION_LABELS, CONDITIONS, type Condition } from './conditions.ts';
import { SIDE_EFFECTS_FIGURES } from './figures/index.ts';
import type { DonorRecord, SideEffectsRecord } from './records.ts';

export interface SideEffectsSample {
  model: string;
  n_mem: number;
  condition: Condition;
  /** The donor text (conditions crammed and random_same_norm). */
  donor_source: string;
  donor_length: number | null;
  donor_index: number | null;
  eval_index: number;
  loss: number;
  accuracy: number;
  baseline_loss: number;
  baseline_accuracy: number;
  delta_loss: number;
  delta_accuracy: number;
}

/** One row per (condition, donor, evaluation text). The `none` rows are repeated for every K, so each K's table is whole. */
export function sideEffectsSamples(records: readonly SideEffectsRecord[]): SideEffectsSample[] {
  const out: SideEffectsSample[] = [];
  const ks = [
    ...new Set(records.filter((r) => !(r.record === 'reference' && r.condition === 'none')).map((r) => r.n_mem)),
  ].sort((a, b) => a - b);
  const push = (
    r: SideEffectsRecord,
    nMem: number,
    condition: Condition,
    loss: number[],
    acc: number[],
    donor: DonorRecord | null,
  ) => {
    r.eval_indices.forEach((idx, i) =>
      out.push({
        model: r.model,
        n_mem: nMem,
        condition,
        donor_source: donor?.source ?? '',
        donor_length: donor?.length ?? null,
        donor_index: donor?.sample_index ?? null,
        eval_index: idx,
        loss: loss[i],
        accuracy: acc[i],
        baseline_loss: r.baseline_loss[i],
        baseline_accuracy: r.baseline_accuracy[i],
        delta_loss: loss[i] - r.baseline_loss[i],
        delta_accuracy: acc[i] - r.baseline_accuracy[i],
      }),
    );
  };
  for (const r of records) {
    if (r.record === 'reference' && r.condition === 'none')
      for (const k of ks.length ? ks : [0]) push(r, k, 'none', r.loss, r.accuracy, null);
    else if (r.record === 'reference') push(r, r.n_mem, 'mean_embedding', r.loss, r.accuracy, null);
    else {
      push(r, r.n_mem, 'crammed', r.crammed_loss, r.crammed_accuracy, r);
      push(r, r.n_mem, 'random_same_norm', r.random_loss, r.random_accuracy, r);
    }
  }
  return out;
}

export interface SideEffectsRow {
  model: string;
  n_mem: number;
  condition: Condition;
  /** Length of the donor texts (conditions crammed and random_same_norm; null otherwise). */
  donor_length: number | null;
  label: string;
  /** Mean best accuracy of those donors (how well their vectors hold their own text). */
  donor_best_accuracy_mean: number | null;
  /** Prefixes behind the condition (donors for b and c, 1 otherwise) and evaluation texts. */
  prefixes: number;
  texts: number;
  loss_mean: number;
  loss_std: number;
  accuracy_mean: number;
  accuracy_std: number;
  delta_loss_mean: number;
  delta_loss_std: number;
  delta_accuracy_mean: number;
  /** Share of (prefix, text) pairs whose loss went up. */
  loss_up_share: number;
  /** Mean norm of the prefix vectors (all K). */
  prefix_norm_mean: number;
}

export function sideEffectsTable(records: readonly SideEffectsRecord[]): SideEffectsRow[] {
  const samples = sideEffectsSamples(records);
  const rows: SideEffectsRow[] = [];
  const keys = [...new Set(samples.map((s) => `${s.model}|${s.n_mem}`))];
  for (const key of keys) {
    for (const c of CONDITIONS) {
      const all = samples.filter((s) => `${s.model}|${s.n_mem}` === key && s.condition === c);
      if (all.length === 0) continue;
      const [model, k] = [all[0].model, all[0].n_mem];
      // Crammed and random prefixes: one row per donor length (at, beyond or below the model's capacity).
      const lengths = [...new Set(all.map((s) => s.donor_length))].sort((a, b) => (a ?? 0) - (b ?? 0));
      for (const length of lengths) {
        const ss = all.filter((s) => s.donor_length === length);
        const donors = records.filter(
          (r): r is DonorRecord => r.record === 'donor' && r.model === model && r.n_mem === k && r.length === length,
        );
        const norms =
          c === 'none'
            ? [0]
            : c === 'mean_embedding'
              ? records
                  .filter(
                    (r) =>
                      r.record === 'reference' &&
                      r.condition === 'mean_embedding' &&
                      r.model === model &&
                      r.n_mem === k,
                  )
                  .map((r) => r.vector_norm)
              : donors.map((r) => r.vector_norm);
        rows.push({
          model,
          n_mem: k,
          condition: c,
          donor_length: length,
          label: CONDITION_LABELS[c] + (length === null ? '' : `, donors of ${length} tokens`),
          prefixes: length === null ? 1 : donors.length,
          texts: new Set(ss.map((s) => s.eval_index)).size,
          donor_best_accuracy_mean: length === null ? null : mean(donors.map((r) => r.best_accuracy)),
          loss_mean: mean(ss.map((s) => s.loss)),
          loss_std: std(ss.map((s) => s.loss)),
          accuracy_mean: mean(ss.map((s) => s.accuracy)),
          accuracy_std: std(ss.map((s) => s.accuracy)),
          delta_loss_mean: mean(ss.map((s) => s.delta_loss)),
          delta_loss_std: std(ss.map((s) => s.delta_loss)),
          delta_accuracy_mean: mean(ss.map((s) => s.delta_accuracy)),
          loss_up_share: mean(ss.map((s) => (s.delta_loss > 0 ? 1 : 0))),
          prefix_norm_mean: mean(norms),
        });
      }
    }
  }
  return rows.sort((a, b) => a.model.localeCompare(b.model) || a.n_mem - b.n_mem);
}

export function report(input: ReportInput<SideEffectsRecord>): ReportContent {
  const { records } = input;
  const table = sideEffectsTable(records);
  const donors = records.filter((r): r is DonorRecord => r.record === 'donor');
  const HEAD = [
    'Model, K',
    'In front of the text',
    "Donors' own accuracy",
    'Prefixes × texts',
    'Loss (mean ± std)',
    'Δ loss vs nothing',
    'Loss went up',
    'Accuracy (mean ± std)',
    'Δ accuracy',
    'Prefix norm',
  ];
  const rows = table.map((r) => [
    `${r.model}, K = ${r.n_mem}`,
    r.label,
    fmt(r.donor_best_accuracy_mean),
    `${r.prefixes} × ${r.texts}`,
    `${fmt(r.loss_mean)} ± ${fmt(r.loss_std)}`,
    `${r.delta_loss_mean >= 0 ? '+' : ''}${fmt(r.delta_loss_mean)} ± ${fmt(r.delta_loss_std)}`,
    pct(r.loss_up_share),
    `${fmt(r.accuracy_mean)} ± ${fmt(r.accuracy_std)}`,
    `${r.delta_accuracy_mean >= 0 ? '+' : ''}${fmt(r.delta_accuracy_mean)}`,
    fmt(r.prefix_norm_mean, 2),
  ]);
  const text =
    'Mean loss (nats per token) and teacher-forced accuracy of unrelated held-out texts with each prefix in front, over every (prefix, text) pair; Δ: against the same text with nothing in front. "Loss went up": share of pairs whose loss rose.';
  const first = records[0];
  const donorLine = donors.length
    ? `Donors: ${donors.length} crammed (mean best accuracy ${fmt(mean(donors.map((d) => d.best_accuracy)))}, solved ${pct(mean(donors.map((d) => (d.best_accuracy === 1 ? 1 : 0))))}), from ${[...new Set(donors.map((d) => d.source))].join(', ')} at L = ${[...new Set(donors.map((d) => d.length))].join(', ')}`
    : 'Donors: none crammed yet';
  return {
    summary: [
      `Models: ${[...new Set(records.map((r) => r.model))].join(', ')}; K: ${[...new Set(donors.map((r) => r.n_mem))].sort((a, b) => a - b).join(', ') || '–'}`,
      donorLine,
      first
        ? `Evaluation texts: ${first.eval_indices.length} of ${first.eval_source} (indices ${first.eval_indices[0]}…${first.eval_indices[first.eval_indices.length - 1]}), ${first.eval_length} tokens each`
        : 'Evaluation texts: –',
    ],
    notes: describeBadLines(input.badLines),
    sections: [{ title: 'What a prefix does to other texts', markdown: `${text}\n\n${mdTable(HEAD, rows)}` }],
    tables: [
      { file: 'side_effects_summary.csv', content: toCsv(table) },
      { file: 'side_effects_samples.csv', content: toCsv(sideEffectsSamples(records)) },
    ],
    figures: SIDE_EFFECTS_FIGURES.map((f) => f.draw({ samples: sideEffectsSamples(records) })),
  };
}

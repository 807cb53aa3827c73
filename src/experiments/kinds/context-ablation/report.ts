/** The context-ablation report: loss and accuracy with P real tokens before the text, or with K vectors. */
import { mean, std } from '../../../metrics/stats.ts';
import { fmt, pct } from '../../../report/format.ts';
import { mdTable, type ReportContent } from '../../../report/report.ts';
import { toCsv } from '../../../report/tables.ts';
import { describeBadLines } from '../../../results/run-folder.ts';
import type { ReportInput } from '../../kind.ts';
import { CONTEXT_ABLATION_FIGURES } from './figures/index.ts';
import type { ContextAblationRecord } from './records.ts';

export interface ContextAblationRow {
  model: string;
  source: string;
  length: number;
  /** "context" or "vectors". */
  condition: string;
  /** P (context rows) or K (vectors rows). */
  amount: number;
  label: string;
  texts: number;
  /** Texts whose chunk had fewer than P tokens before the text. */
  short_contexts: number;
  loss_mean: number;
  loss_std: number;
  accuracy_mean: number;
  accuracy_std: number;
  original_loss_mean: number;
  original_accuracy_mean: number;
  /** Mean over texts of (original loss − loss) / original loss. */
  loss_removed_share: number;
  exact_share: number | null;
}

export function contextAblationTable(records: readonly ContextAblationRecord[]): ContextAblationRow[] {
  const groups = new Map<string, ContextAblationRecord[]>();
  for (const r of records) {
    const k = `${r.model}|${r.source}|${r.length}|${r.condition}|${r.condition === 'context' ? r.context_tokens : r.n_mem}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const rows = [...groups.values()].map((rs): ContextAblationRow => {
    const f = rs[0];
    const amount = f.condition === 'context' ? f.context_tokens : f.n_mem;
    const checked = rs.filter((r) => r.regenerated_exact !== null);
    return {
      model: f.model,
      source: f.source,
      length: f.length,
      condition: f.condition,
      amount,
      label:
        f.condition === 'context'
          ? amount === 0
            ? 'no context'
            : `${amount} context tokens`
          : `${amount} vector${amount > 1 ? 's' : ''}`,
      texts: rs.length,
      short_contexts: rs.filter((r) => r.condition === 'context' && r.n_context < r.context_tokens).length,
      loss_mean: mean(rs.map((r) => r.loss)),
      loss_std: std(rs.map((r) => r.loss)),
      accuracy_mean: mean(rs.map((r) => r.accuracy)),
      accuracy_std: std(rs.map((r) => r.accuracy)),
      original_loss_mean: mean(rs.map((r) => r.original_loss)),
      original_accuracy_mean: mean(rs.map((r) => r.original_accuracy)),
      loss_removed_share: mean(rs.map((r) => (r.original_loss - r.loss) / r.original_loss)),
      exact_share:
        f.condition === 'vectors' && checked.length ? mean(checked.map((r) => (r.regenerated_exact ? 1 : 0))) : null,
    };
  });
  return rows.sort(
    (a, b) =>
      a.model.localeCompare(b.model) ||
      a.source.localeCompare(b.source) ||
      a.length - b.length ||
      (a.condition === b.condition ? a.amount - b.amount : a.condition === 'context' ? -1 : 1),
  );
}

export function report(input: ReportInput<ContextAblationRecord>): ReportContent {
  const { records } = input;
  const table = contextAblationTable(records);
  const HEAD = [
    'Model, source, L',
    'In front of the text',
    'Texts',
    'Loss (mean ± std)',
    'Accuracy (mean ± std)',
    'Loss removed',
    'Exact regen.',
  ];
  const rows = table.map((r) => [
    `${r.model}, ${r.source}, L = ${r.length}`,
    r.label + (r.short_contexts ? ` (${r.short_contexts} shorter)` : ''),
    String(r.texts),
    `${fmt(r.loss_mean)} ± ${fmt(r.loss_std)}`,
    `${fmt(r.accuracy_mean)} ± ${fmt(r.accuracy_std)}`,
    pct(r.loss_removed_share),
    pct(r.exact_share),
  ]);
  // The paper's layout: one line per (model, source, L), "loss / accuracy" per condition.
  const conds = [...new Map(table.map((r) => [`${r.condition}|${r.amount}`, r])).values()].sort((a, b) =>
    a.condition === b.condition ? a.amount - b.amount : a.condition === 'context' ? -1 : 1,
  );
  const lines = [...new Set(table.map((r) => `${r.model}, ${r.source}, L = ${r.length}`))];
  const WIDE_HEAD = [
    'Model, source, L',
    ...conds.map((c) => (c.condition === 'context' ? (c.amount === 0 ? 'no context' : `+${c.amount}`) : c.label)),
  ];
  const wide = lines.map((l) => [
    l,
    ...conds.map((c) => {
      const r = table.find(
        (x) => `${x.model}, ${x.source}, L = ${x.length}` === l && x.condition === c.condition && x.amount === c.amount,
      );
      return r ? `${fmt(r.loss_mean)} / ${fmt(r.accuracy_mean)}` : '–';
    }),
  ]);
  const text =
    "Loss (nats per token) and teacher-forced accuracy over the crammed text's N − 1 predictions, with P tokens of the real preceding text in front of it, or crammed into K vectors (best loss and best accuracy over the steps, as the paper reports them). Loss removed: mean over texts of (no-context loss − loss) / no-context loss.";
  const short = table.filter((r) => r.short_contexts > 0);
  return {
    summary: [
      `Texts: ${new Set(records.map((r) => `${r.model}|${r.source}|${r.length}|${r.sample_index}`)).size}; context rows: ${records.filter((r) => r.condition === 'context').length}; crammed rows: ${records.filter((r) => r.condition === 'vectors').length}`,
      `Models: ${[...new Set(records.map((r) => r.model))].join(', ')}; sources: ${[...new Set(records.map((r) => r.source))].join(', ')}; lengths: ${[...new Set(records.map((r) => r.length))].sort((a, b) => a - b).join(', ')}`,
      `Context tokens: ${[...new Set(records.filter((r) => r.condition === 'context').map((r) => r.context_tokens))].sort((a, b) => a - b).join(', ') || '–'}; K: ${[...new Set(records.filter((r) => r.condition === 'vectors').map((r) => r.n_mem))].sort((a, b) => a - b).join(', ') || '–'}`,
    ],
    notes: [
      ...(short.length
        ? [
            `Some chunks have fewer tokens before the text than asked for: ${short.map((r) => `${r.model}/${r.source}/L = ${r.length}, ${r.amount} tokens: ${r.short_contexts} text(s)`).join('; ')} (they get all they have; n_context in the records).`,
          ]
        : []),
      ...describeBadLines(input.badLines),
    ],
    sections: [
      {
        title: 'Real preceding text vs crammed vectors (paper §4.7)',
        markdown: `${text}\n\n${mdTable(WIDE_HEAD, wide)}\n\nLoss / accuracy per condition.\n\n${mdTable(HEAD, rows)}`,
      },
    ],
    tables: [{ file: 'context_ablation.csv', content: toCsv(table) }],
    figures: CONTEXT_ABLATION_FIGURES.map((f) => f.draw({ rows: table })),
  };
}

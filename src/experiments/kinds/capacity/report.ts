/**
 * The capacity report: what was run, Table 1, capacity per model/source/K, the Figure-3 fit, and the figures in
 * CAPACITY_FIGURES; also what `cram compare` writes over several runs.
 */
import {
  accuracyByLength,
  capacityTable,
  ceThresholdFits,
  countedRecords,
  type CapacityRow,
  type CeThresholdRow,
} from '../../../metrics/aggregate.ts';
import { modelOrder, sourceOrder, type Figure } from '../../../report/figures/common.ts';
import { fmt, formatMeanStd, pct } from '../../../report/format.ts';
import {
  mdTable,
  writeReport,
  type ReportContent,
  type ReportMeta,
  type ReportResult,
} from '../../../report/report.ts';
import {
  accuracyCsv,
  capacityCsv,
  ceFitCsv,
  csvFromRows,
  table1,
  table1CsvRows,
  table1Markdown,
} from '../../../report/tables.ts';
import { describeBadLines, type BadLine } from '../../../results/run-folder.ts';
import type { SkippedText } from '../../kind.ts';
import { CAPACITY_FIGURES, type CapacityFigureData } from './figures/index.ts';
import type { CurveRecord, SampleRecord } from './records.ts';

const CAP_HEAD = [
  'Model',
  'Source',
  'K',
  'Capacity, tokens',
  'Theoretical, tokens',
  'Token gain',
  'Info gain, nats',
  'Utilization',
  'Saturated / texts',
  'Exact regen.',
];
function capRow(r: CapacityRow): string[] {
  return [
    r.model,
    r.source,
    String(r.n_mem),
    r.capacity === null ? '–' : String(r.capacity),
    fmt(r.theoretical_capacity, 0),
    formatMeanStd(r.token_gain_mean, r.token_gain_std),
    formatMeanStd(r.info_gain_nats_mean, r.info_gain_nats_std),
    pct(r.utilization),
    `${r.n_saturated} / ${r.n_samples}`,
    pct(r.exact_rate),
  ];
}

const FIT_HEAD = [
  'Model',
  'Source',
  'K',
  'C_H = −b, nats',
  'Fit RMSE, nats',
  'Texts fitted (acc < 0.99)',
  'Red line, nats',
  'Lossless texts',
];
function fitRow(r: CeThresholdRow): string[] {
  return [
    r.model,
    r.source,
    String(r.n_mem),
    fmt(r.c_h, 1),
    fmt(r.rmse, 1),
    String(r.n_fit),
    fmt(r.red_line, 1),
    String(r.n_lossless),
  ];
}

/** What the records cover, one line each. */
function summary(records: readonly SampleRecord[]): string[] {
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const lines: string[] = [];
  lines.push(`Texts crammed: ${records.length}`);
  lines.push(`Runs: ${uniq(records.map((r) => r.run)).join(', ') || '–'}`);
  lines.push(
    `Models: ${
      modelOrder(records)
        .map((m) => {
          const r = records.find((x) => x.model === m)!;
          return `${m} (d = ${r.embed_dim}, V = ${r.embedding_rows})`;
        })
        .join('; ') || '–'
    }`,
  );
  lines.push(`Sources: ${sourceOrder(records).join(', ') || '–'}`);
  for (const s of sourceOrder(records)) {
    const ls = uniq(records.filter((r) => r.source === s).map((r) => r.length)).sort((a, b) => a - b);
    const shown = ls.length > 12 ? `${ls.length} distinct lengths, ${ls[0]}–${ls[ls.length - 1]}` : ls.join(', ');
    lines.push(`Lengths (${s}), tokens: ${shown}`);
  }
  lines.push(
    `Number of [mem] vectors K: ${
      uniq(records.map((r) => r.n_mem))
        .sort((a, b) => a - b)
        .join(', ') || '–'
    }`,
  );
  const stops = new Map<string, number>();
  for (const r of records) stops.set(r.stop_reason, (stops.get(r.stop_reason) ?? 0) + 1);
  lines.push(`Stop reasons: ${[...stops].map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`);
  lines.push(
    `Exact greedy regeneration: ${records.filter((r) => r.regenerated_exact).length} of ${records.length} texts`,
  );
  return lines;
}

function shortTextNotes(records: readonly SampleRecord[], skipped: readonly SkippedText[]): string[] {
  const notes: string[] = [];
  if (skipped.length > 0) {
    const by = new Map<string, SkippedText[]>();
    for (const s of skipped)
      by.set(`${s.model} / ${s.source} at L = ${s.length}`, [
        ...(by.get(`${s.model} / ${s.source} at L = ${s.length}`) ?? []),
        s,
      ]);
    notes.push(
      `Texts shorter than a grid length are not samples at that length and were not crammed there: ${[...by]
        .map(
          ([k, ss]) =>
            `${k}: ${ss.length} text${ss.length > 1 ? 's' : ''} (${ss
              .slice(0, 5)
              .map((s) => `#${s.sample_index}, ${s.n_tokens} tokens`)
              .join('; ')}${ss.length > 5 ? '; …' : ''})`,
        )
        .join('; ')}.`,
    );
  }
  const excluded = records.length - countedRecords(records).length;
  if (excluded > 0) {
    notes.push(
      `${excluded} record${excluded > 1 ? 's' : ''} crammed a text shorter than ${excluded > 1 ? 'their' : 'its'} grid length (n_tokens < length; made before such texts were skipped): left out of every statistic, table and figure.`,
    );
  }
  return notes;
}

export interface CapacityReportInput {
  records: SampleRecord[];
  curves?: CurveRecord[];
  skipped?: SkippedText[];
  badLines?: BadLine[];
  /** Figures after CAPACITY_FIGURES (e.g. the comparison's capacity per model). */
  extraFigures?: readonly Figure<CapacityFigureData>[];
  /** An extra paragraph under "What was run". */
  note?: string;
}

export function capacityReport(input: CapacityReportInput): ReportContent {
  const { records, curves = [] } = input;
  const cap = capacityTable(records);
  const fits = ceThresholdFits(records);
  const t1 = table1(records, cap);
  const data: CapacityFigureData = { records, curves };
  return {
    summary: summary(records),
    notes: [
      ...(input.note ? [input.note] : []),
      ...shortTextNotes(records, input.skipped ?? []),
      ...describeBadLines(input.badLines ?? []),
    ],
    sections: [
      {
        title: 'Table 1',
        markdown:
          'Max: largest tested length whose mean best accuracy is ≥ 0.99. Gains: mean ± sample std over texts with best accuracy ≤ 0.99, pooled over all lengths (information gain in nats).\n\n' +
          table1Markdown(t1),
      },
      {
        title: 'Capacity per model, source and K',
        markdown:
          'Theoretical capacity: K·d·16/log2(V) tokens (Eq. 1). Utilization: mean token gain / theoretical capacity.\n\n' +
          mdTable(CAP_HEAD, cap.map(capRow)),
      },
      { title: 'Cross-entropy threshold (Fig. 3 fit)', markdown: mdTable(FIT_HEAD, fits.map(fitRow)) },
    ],
    tables: [
      { file: 'capacity.csv', content: capacityCsv(cap) },
      { file: 'accuracy_by_length.csv', content: accuracyCsv(accuracyByLength(records)) },
      { file: 'ce_fit.csv', content: ceFitCsv(fits) },
      { file: 'table1.csv', content: csvFromRows(table1CsvRows(t1)) },
      { file: 'table1.md', content: table1Markdown(t1) },
    ],
    figures: [...CAPACITY_FIGURES, ...(input.extraFigures ?? [])].map((f) => f.draw(data)),
  };
}

/** The capacity report from records alone (tests, comparisons): tables, figures, report.md/html in `dir`. */
export function writeCapacityReport(dir: string, input: CapacityReportInput & ReportMeta): Promise<ReportResult> {
  return writeReport(dir, capacityReport(input), input);
}

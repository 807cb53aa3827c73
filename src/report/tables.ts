/**
 * Table 1 of the paper (rows: source × metric, columns: models) as Markdown and CSV, plus the CSV forms
 * of the aggregate tables. Gains are mean ± sample std over texts with best_accuracy ≤ 0.99.
 */
import { stringify } from 'csv-stringify/sync';
import { toCsv } from '../results/csv.ts';
import type { SampleRecord } from '../results/sample-record.ts';
import {
  capacityTable,
  type AccuracyByLengthRow,
  type CapacityRow,
  type CeThresholdRow,
} from '../metrics/aggregate.ts';
import { modelOrder, sourceOrder } from './figures/common.ts';
import { formatMeanStd } from './format.ts';

export const TABLE1_METRICS = ['Max, tokens', 'Gain, tokens', 'Information gain, nats'] as const;

export interface Table1 {
  /** Model names, smallest embed_dim first. */
  models: string[];
  rows: { source: string; n_mem: number; metric: (typeof TABLE1_METRICS)[number]; cells: string[] }[];
}

const DASH = '–';

/** Table 1 from the capacity table: one block of three rows per (source, K). */
export function table1(records: readonly SampleRecord[], cap: CapacityRow[] = capacityTable(records)): Table1 {
  const models = modelOrder(cap);
  const rows: Table1['rows'] = [];
  const ks = [...new Set(cap.map((r) => r.n_mem))].sort((a, b) => a - b);
  for (const source of sourceOrder(cap)) {
    for (const k of ks) {
      const byModel = new Map(cap.filter((r) => r.source === source && r.n_mem === k).map((r) => [r.model, r]));
      if (byModel.size === 0) continue;
      const cell = (f: (r: CapacityRow) => string) => models.map((m) => (byModel.has(m) ? f(byModel.get(m)!) : DASH));
      rows.push({
        source,
        n_mem: k,
        metric: 'Max, tokens',
        cells: cell((r) => (r.capacity === null ? DASH : String(r.capacity))),
      });
      rows.push({
        source,
        n_mem: k,
        metric: 'Gain, tokens',
        cells: cell((r) => formatMeanStd(r.token_gain_mean, r.token_gain_std)),
      });
      rows.push({
        source,
        n_mem: k,
        metric: 'Information gain, nats',
        cells: cell((r) => formatMeanStd(r.info_gain_nats_mean, r.info_gain_nats_std)),
      });
    }
  }
  return { models, rows };
}

function sourceLabel(t: Table1, row: Table1['rows'][number]): string {
  const severalK = new Set(t.rows.map((r) => r.n_mem)).size > 1;
  return severalK || row.n_mem !== 1 ? `${row.source} (K = ${row.n_mem})` : row.source;
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|');

export function table1Markdown(t: Table1): string {
  const head = ['Source', 'Metric', ...t.models];
  const lines = [
    `| ${head.map(mdEscape).join(' | ')} |`,
    `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
  ];
  for (const r of t.rows) lines.push(`| ${[sourceLabel(t, r), r.metric, ...r.cells].map(mdEscape).join(' | ')} |`);
  return lines.join('\n') + '\n';
}

/** Header row plus one row per (source, K, metric). */
export function table1CsvRows(t: Table1): string[][] {
  return [
    ['source', 'n_mem', 'metric', ...t.models],
    ...t.rows.map((r) => [r.source, String(r.n_mem), r.metric, ...r.cells]),
  ];
}

export { toCsv };

export function csvFromRows(rows: readonly (readonly string[])[]): string {
  return stringify(rows as string[][]);
}

export const capacityCsv = (rows: readonly CapacityRow[]) => toCsv(rows);
export const accuracyCsv = (rows: readonly AccuracyByLengthRow[]) => toCsv(rows);
export const ceFitCsv = (rows: readonly CeThresholdRow[]) => toCsv(rows);

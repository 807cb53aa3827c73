/**
 * Helpers for the analysis notebook (notebooks/analyze-run.ipynb): read a run's results.csv and draw a chart of
 * your own with vega-lite. Kept in a module so a test runs the same code the notebook does.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { TopLevelSpec } from 'vega-lite';
import { specToSvg } from '../src/report/render.ts';

export interface ResultRow {
  model: string;
  source: string;
  length: number;
  n_mem: number;
  best_accuracy: number;
  original_accuracy: number;
  info_gain_nats: number;
  regenerated_exact: boolean;
}

/** results.csv → typed rows (numbers as numbers, booleans as booleans). */
export function loadResults(csvPath: string): ResultRow[] {
  const rows = parse(readFileSync(csvPath, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<
    string,
    string
  >[];
  return rows.map((r) => ({
    model: r.model,
    source: r.source,
    length: Number(r.length),
    n_mem: Number(r.n_mem),
    best_accuracy: Number(r.best_accuracy),
    original_accuracy: Number(r.original_accuracy),
    info_gain_nats: Number(r.info_gain_nats),
    regenerated_exact: r.regenerated_exact === 'true',
  }));
}

/** Exact-regeneration rate against teacher-forced accuracy: how often does ≥ 0.99 accuracy mean the text comes back? */
export function exactVsAccuracySpec(rows: ResultRow[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Exact greedy regeneration vs teacher-forced accuracy',
    width: 420,
    height: 260,
    data: { values: rows.map((r) => ({ ...r, exact: r.regenerated_exact ? 1 : 0, K: `K = ${r.n_mem}` })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'length', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'Text length, tokens' },
      y: {
        aggregate: 'mean',
        field: 'exact',
        type: 'quantitative',
        title: 'Share of texts regenerated exactly',
        scale: { domain: [0, 1] },
      },
      color: { field: 'K', type: 'nominal', title: 'Vectors' },
      strokeDash: { field: 'source', type: 'nominal', title: 'Source' },
    },
  };
}

export async function toSvg(spec: TopLevelSpec): Promise<string> {
  return specToSvg(spec);
}

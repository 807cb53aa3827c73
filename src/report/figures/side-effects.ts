/**
 * Side effects of a prefix: loss and accuracy of unrelated held-out texts with (a) nothing, (b) a vector crammed for
 * another text, (c) a random vector of the same norm, (d) the mean token embedding in front; one box per condition
 * over every (prefix, text) pair, the mean as a diamond.
 */
import type { TopLevelSpec } from 'vega-lite';
import { CONFIG, type FigureEntry, PANEL_H, SCHEMA, round } from './common.ts';

export interface SideEffectsPoint {
  model: string;
  n_mem: number;
  /** none, crammed, random_same_norm, mean_embedding. */
  condition: string;
  loss: number;
  accuracy: number;
}

const LABELS: Record<string, string> = { none: '(a) nothing', crammed: '(b) crammed', random_same_norm: '(c) random', mean_embedding: '(d) mean emb.' };
const COLORS = ['#9d9d9d', '#e45756', '#4c78a8', '#54a24b'];

export function sideEffectsFigure(samples: readonly SideEffectsPoint[]): FigureEntry {
  const base = {
    name: 'side_effects',
    title: 'What a prefix does to unrelated texts',
    caption: 'Loss (top) and teacher-forced accuracy (bottom) of unrelated held-out texts with each prefix in front: boxes over every (prefix, text) pair '
      + '(quartiles, whiskers to the extremes), diamonds the means. (b): the K vectors crammed for another text; (c): random vectors with their norms; (d): the mean token embedding.',
  };
  if (samples.length === 0) return { ...base, skipped: 'no records' };
  const values: Record<string, unknown>[] = [];
  for (const s of samples) {
    const common = { panel: `${s.model}, K = ${s.n_mem}`, condition: LABELS[s.condition] ?? s.condition };
    values.push({ ...common, measure: 'Loss, nats/token', value: round(s.loss) });
    values.push({ ...common, measure: 'Accuracy', value: round(s.accuracy) });
  }
  const order = Object.values(LABELS);
  const x = { field: 'condition', type: 'nominal', sort: order, title: null, axis: { labelAngle: 0 } } as const;
  const color = { field: 'condition', type: 'nominal', sort: order, title: 'In front of the text', scale: { domain: order, range: COLORS }, legend: null } as const;
  const panels = [...new Set(values.map((v) => v.panel as string))].sort();
  const spec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    facet: {
      row: { field: 'measure', type: 'nominal', title: null, sort: ['Loss, nats/token', 'Accuracy'] },
      column: { field: 'panel', type: 'nominal', title: null, sort: panels },
    },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 380, height: PANEL_H - 20,
      layer: [
        { mark: { type: 'boxplot', extent: 'min-max', size: 34, opacity: 0.75, median: { color: 'black' } }, encoding: { x, y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } }, color } },
        { mark: { type: 'point', shape: 'diamond', filled: true, size: 60, color: 'black' }, encoding: { x, y: { aggregate: 'mean', field: 'value', type: 'quantitative' } } },
      ],
    },
    config: CONFIG,
  } as unknown as TopLevelSpec;
  return { ...base, spec };
}

/**
 * Side effects of a prefix: how much the loss and accuracy of unrelated held-out texts change, against the same text
 * with nothing in front, with (b) a vector crammed for another text, (c) a random vector of the same norm, (d) the
 * mean token embedding in front; one box per condition over every (prefix, text) pair, the mean as a diamond.
 */
import { facetSpec, type FigureEntry, PANEL_H, round } from '../../../../report/figures/common.ts';

export interface SideEffectsPoint {
  model: string;
  n_mem: number;
  /** none, crammed, random_same_norm, mean_embedding. */
  condition: string;
  /** Against the same text with nothing in front. */
  delta_loss: number;
  delta_accuracy: number;
}

const LABELS: Record<string, string> = {
  crammed: '(b) crammed',
  random_same_norm: '(c) random',
  mean_embedding: '(d) mean emb.',
};
const COLORS = ['#e45756', '#4c78a8', '#54a24b'];
const MEASURES = ['Δ loss, nats/token', 'Δ accuracy'];

export function sideEffectsFigure(samples: readonly SideEffectsPoint[]): FigureEntry {
  const base = {
    name: 'side_effects',
    title: 'What a prefix does to unrelated texts',
    caption:
      'Change of the loss (top) and of the teacher-forced accuracy (bottom) of unrelated held-out texts when a prefix is put in front of them, ' +
      'against the same text with nothing in front: boxes over every (prefix, text) pair (quartiles, whiskers to the extremes), diamonds the means. ' +
      '(b): the K vectors crammed for another text; (c): random vectors with their norms; (d): the mean token embedding, K times.',
  };
  const used = samples.filter((s) => s.condition in LABELS);
  if (used.length === 0) return { ...base, skipped: 'no prefixed evaluations yet' };
  const values: Record<string, unknown>[] = [];
  for (const s of used) {
    const common = { panel: `${s.model}, K = ${s.n_mem}`, condition: LABELS[s.condition] };
    values.push({ ...common, measure: MEASURES[0], value: round(s.delta_loss) });
    values.push({ ...common, measure: MEASURES[1], value: round(s.delta_accuracy) });
  }
  const order = Object.values(LABELS);
  const x = {
    field: 'condition',
    type: 'nominal',
    sort: order,
    title: null,
    axis: { labelAngle: 0, labelLimit: 200 },
  } as const;
  const color = {
    field: 'condition',
    type: 'nominal',
    sort: order,
    scale: { domain: order, range: COLORS },
    legend: null,
  } as const;
  const panels = [...new Set(values.map((v) => v.panel as string))].sort((a, b) =>
    a.localeCompare(b, 'en', { numeric: true }),
  );
  const spec = facetSpec({
    title: base.title,
    values,
    facet: {
      row: { field: 'measure', type: 'nominal', title: null, sort: MEASURES },
      column: { field: 'panel', type: 'nominal', title: null, sort: panels },
    },
    resolve: { scale: { y: 'independent' } },
    width: 420,
    height: PANEL_H - 20,
    layer: [
      {
        mark: { type: 'rule', color: '#888', strokeDash: [4, 3] },
        encoding: { y: { datum: 0, type: 'quantitative' } },
      },
      {
        mark: { type: 'boxplot', extent: 'min-max', size: 40, opacity: 0.75, median: { color: 'black' } },
        encoding: { x, y: { field: 'value', type: 'quantitative', title: null }, color },
      },
      {
        mark: { type: 'point', shape: 'diamond', filled: true, size: 60, color: 'black' },
        encoding: { x, y: { aggregate: 'mean', field: 'value', type: 'quantitative' } },
      },
    ],
  });
  return { ...base, spec };
}

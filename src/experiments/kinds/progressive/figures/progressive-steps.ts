/** Progressive cramming: optimisation steps each text took, against its horizon. */
import { facetSpec, type FigureEntry, modelOrder, PANEL_H, PANEL_W } from '../../../../report/figures/common.ts';

/** One text's progressive result, as this figure reads it. */
export interface StepsPoint {
  model: string;
  /** The model's width (models are ordered by it). */
  embed_dim: number;
  source: string;
  n_mem: number;
  sample_index: number;
  /** Longest prefix greedy regeneration reproduces from the kept vectors. */
  horizon: number;
  /** Forward/backward passes over all stages. */
  steps: number;
  stop_reason: string;
}

export function progressiveStepsFigure(records: readonly StepsPoint[]): FigureEntry {
  const base = {
    name: 'progressive_steps',
    title: 'Steps per text vs horizon (progressive cramming)',
    caption:
      'Forward/backward passes each text took over all its stages (log scale) against its horizon; shape: why it stopped ' +
      '(a failed stage pins the horizon; full_length: the whole target was reached; text_budget: the per-text budget ran out).',
  };
  if (records.length === 0) return { ...base, skipped: 'no texts' };
  const panel = (r: StepsPoint) =>
    `${r.model}${new Set(records.map((x) => x.source)).size > 1 ? ` / ${r.source}` : ''}`;
  const panels = [...new Set(modelOrder(records).flatMap((m) => records.filter((r) => r.model === m).map(panel)))];
  const ks = [...new Set(records.map((r) => r.n_mem))].sort((a, b) => a - b).map((k) => `K = ${k}`);
  const values = records.map((r) => ({
    panel: panel(r),
    K: `K = ${r.n_mem}`,
    horizon: r.horizon,
    steps: Math.max(1, r.steps),
    stop: r.stop_reason,
    index: r.sample_index,
  }));
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(3, panels.length),
    width: PANEL_W,
    height: PANEL_H,
    mark: { type: 'point', filled: true, size: 50, opacity: 0.75 },
    encoding: {
      x: { field: 'horizon', type: 'quantitative', title: 'Horizon, tokens' },
      y: { field: 'steps', type: 'quantitative', title: 'Steps (log scale)', scale: { type: 'log' } },
      color: { field: 'K', type: 'nominal', title: 'Vectors', sort: ks },
      shape: { field: 'stop', type: 'nominal', title: 'Stopped by' },
      tooltip: [{ field: 'index' }, { field: 'horizon' }, { field: 'steps' }, { field: 'stop' }],
    },
  });
  return { ...base, spec };
}

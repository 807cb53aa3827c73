/** Progressive cramming: per text, the horizon against the largest grid length crammed from scratch with exact regeneration. */
import {
  facetSpec,
  type FigureEntry,
  modelOrder,
  PANEL_H,
  PANEL_W,
  type PositionDef,
} from '../../../../report/figures/common.ts';

/** One text's progressive result, as this figure reads it. */
export interface HorizonGridPoint {
  model: string;
  /** The model's width (models are ordered by it). */
  embed_dim: number;
  source: string;
  n_mem: number;
  sample_index: number;
  /** Longest prefix greedy regeneration reproduces from the kept vectors. */
  horizon: number;
  /** Largest grid length the same text was regenerated exactly at, crammed from scratch; null without a grid. */
  grid_exact_max: number | null;
}

export function horizonVsGridFigure(records: readonly HorizonGridPoint[]): FigureEntry {
  const base = {
    name: 'horizon_vs_grid',
    title: 'Horizon vs fixed-grid result, per text',
    caption:
      'x: the largest grid length at which the text, crammed from scratch (capacity kind, same seed), was regenerated ' +
      'exactly (0: at none); y: its progressive horizon. Point size: number of texts. Dashed: y = x. Points above it are ' +
      'texts the warm-started stages carried further than the fixed grid shows (the grid also rounds down to its lengths).',
  };
  const rs = records.filter((r) => r.grid_exact_max !== null);
  if (rs.length === 0) return { ...base, skipped: 'no fixed-grid comparison in this run (compare_capacity: false)' };
  const panel = (r: HorizonGridPoint) =>
    `${r.model}${new Set(rs.map((x) => x.source)).size > 1 ? ` / ${r.source}` : ''}, K = ${r.n_mem}`;
  const counts = new Map<string, Record<string, unknown>>();
  for (const r of rs) {
    const k = `${panel(r)}|${r.n_mem}|${r.grid_exact_max}|${r.horizon}`;
    const v = counts.get(k) ?? { panel: panel(r), K: `K = ${r.n_mem}`, x: r.grid_exact_max, y: r.horizon, texts: 0 };
    v.texts = (v.texts as number) + 1;
    counts.set(k, v);
  }
  const values: Record<string, unknown>[] = [...counts.values()];
  const top = Math.max(...rs.map((r) => Math.max(r.horizon, r.grid_exact_max!)));
  const panels = [
    ...new Set(
      modelOrder(rs).flatMap((m) =>
        rs
          .filter((r) => r.model === m)
          .sort((a, b) => a.n_mem - b.n_mem)
          .map(panel),
      ),
    ),
  ];
  for (const p of panels) for (const v of [0, top]) values.push({ panel: p, diag: v });
  const x: PositionDef = {
    field: 'x',
    type: 'quantitative',
    title: ['Largest grid length regenerated', 'exactly from scratch'],
    scale: { domain: [0, top] },
    axis: { tickMinStep: 1, format: 'd' },
  };
  const y: PositionDef = {
    field: 'y',
    type: 'quantitative',
    title: 'Progressive horizon, tokens',
    scale: { domain: [0, top] },
    axis: { tickMinStep: 1, format: 'd' },
  };
  const sizes = [...new Set([...counts.values()].map((v) => v.texts as number))].sort((a, b) => a - b);
  const ks = [...new Set(rs.map((r) => r.n_mem))].sort((a, b) => a - b).map((k) => `K = ${k}`);
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(3, panels.length),
    width: PANEL_W,
    height: PANEL_H + 40,
    layer: [
      {
        transform: [{ filter: 'isValid(datum.diag)' }],
        mark: { type: 'line', color: '#888', strokeDash: [5, 4] },
        encoding: { x: { ...x, field: 'diag' }, y: { ...y, field: 'diag' } },
      },
      {
        transform: [{ filter: 'isValid(datum.texts)' }],
        mark: { type: 'circle', opacity: 0.7 },
        encoding: {
          x,
          y,
          color: { field: 'K', type: 'nominal', title: 'Vectors', sort: ks },
          size: {
            field: 'texts',
            type: 'quantitative',
            title: 'Texts',
            scale: { domain: [0, Math.max(...sizes)], range: [0, 400] },
            legend: { values: sizes, format: 'd' },
          },
          tooltip: [{ field: 'K' }, { field: 'x' }, { field: 'y' }, { field: 'texts' }],
        },
      },
    ],
  });
  return { ...base, spec };
}

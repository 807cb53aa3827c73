/**
 * Paper Fig. 8 (solution-space): teacher-forced accuracy along the straight line between two restarts of the same text,
 * every pair (thin lines) and the mean (thick), with the share of points that regenerate the text exactly.
 */
import {
  CONFIG,
  facetSpec,
  type FigureEntry,
  PANEL_H,
  PANEL_W,
  round,
  type PositionDef,
} from '../../../../report/figures/common.ts';

export interface InterpolationPoint {
  panel: string;
  /** One line: text and pair of restarts, e.g. "3:0-2". */
  line: string;
  alpha: number;
  accuracy: number;
  /** Exact greedy regeneration at this point; null when not checked. */
  exact: boolean | null;
}

export function interpolationFigure(points: readonly InterpolationPoint[], maxLines = 80): FigureEntry {
  const base = {
    name: 'interpolation_accuracy',
    title: 'Accuracy between two solutions of the same text (Fig. 8)',
    caption:
      'Teacher-forced accuracy at (1 − α)·a + α·b for pairs of restarts a, b of the same text: thin lines, single pairs (at most 80 per panel), ' +
      'the thick line is the mean; the dashed line is the share of pairs whose point regenerates the text exactly (greedy).',
  };
  if (points.length === 0) return { ...base, skipped: 'no analysed texts yet' };
  const panels = [...new Set(points.map((p) => p.panel))].sort();
  const values: Record<string, unknown>[] = [];
  for (const panel of panels) {
    const ps = points.filter((p) => p.panel === panel);
    const lines = [...new Set(ps.map((p) => p.line))];
    const keep = new Set(lines.filter((_, i) => i % Math.ceil(lines.length / maxLines) === 0));
    for (const p of ps)
      if (keep.has(p.line))
        values.push({
          kind: 'pair',
          panel,
          line: p.line,
          alpha: round(p.alpha),
          value: round(p.accuracy),
          what: 'accuracy',
        });
    for (const a of [...new Set(ps.map((p) => round(p.alpha)))].sort((x, y) => x - y)) {
      const at = ps.filter((p) => round(p.alpha) === a);
      values.push({
        kind: 'mean',
        panel,
        alpha: a,
        value: round(at.reduce((s, p) => s + p.accuracy, 0) / at.length),
        what: 'Mean accuracy',
      });
      const checked = at.filter((p) => p.exact !== null);
      if (checked.length)
        values.push({
          kind: 'mean',
          panel,
          alpha: a,
          value: round(checked.filter((p) => p.exact).length / checked.length),
          what: 'Exact regeneration (share)',
        });
    }
  }
  const x: PositionDef = {
    field: 'alpha',
    type: 'quantitative',
    title: 'α (0: restart a, 1: restart b)',
    scale: { domain: [0, 1] },
  };
  const y: PositionDef = { field: 'value', type: 'quantitative', title: 'Accuracy / share', scale: { domain: [0, 1] } };
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(2, panels.length),
    width: PANEL_W + 60,
    height: PANEL_H + 20,
    layer: [
      {
        transform: [{ filter: "datum.kind === 'pair'" }],
        mark: { type: 'line', strokeWidth: 0.7, opacity: 0.18, color: '#777' },
        encoding: { x, y, detail: { field: 'line' } },
      },
      {
        transform: [{ filter: "datum.kind === 'mean'" }],
        mark: { type: 'line', strokeWidth: 2.6, point: { filled: true, size: 36 } },
        encoding: {
          x,
          y,
          color: {
            field: 'what',
            type: 'nominal',
            title: null,
            scale: { domain: ['Mean accuracy', 'Exact regeneration (share)'], range: ['#e45756', '#4c78a8'] },
          },
          strokeDash: {
            field: 'what',
            type: 'nominal',
            title: null,
            scale: {
              domain: ['Mean accuracy', 'Exact regeneration (share)'],
              range: [
                [1, 0],
                [6, 3],
              ],
            },
          },
          tooltip: [{ field: 'what' }, { field: 'alpha' }, { field: 'value' }],
        },
      },
    ],
    config: {
      ...CONFIG,
      header: { ...CONFIG.header, labelLimit: 640 },
      legend: { ...CONFIG.legend, orient: 'bottom' },
    },
  });
  return { ...base, spec };
}

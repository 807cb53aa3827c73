/**
 * Context ablation (paper §4.7): loss and accuracy of a text with P tokens of its real preceding text in front of it,
 * against the same text crammed into K vectors.
 */
import {
  CONFIG,
  facetSpec,
  type FigureEntry,
  palette,
  PANEL_H,
  PANEL_W,
  round,
  type Layers,
} from '../../../../report/figures/common.ts';

export interface ContextAblationPoint {
  model: string;
  source: string;
  length: number;
  condition: string;
  /** P for context rows, K for vectors rows. */
  amount: number;
  loss_mean: number;
  loss_std: number;
  accuracy_mean: number;
  accuracy_std: number;
}

export function contextAblationFigure(rows: readonly ContextAblationPoint[]): FigureEntry {
  const base = {
    name: 'context_ablation',
    title: 'Real preceding text vs crammed vectors',
    caption:
      'Mean loss (top) and teacher-forced accuracy (bottom) over the crammed text, with P tokens of the real text before it (left of the ' +
      'grey line, 0 = no context) or with the text crammed into K vectors (right). Error bars: ±1 std over texts.',
  };
  if (rows.length === 0) return { ...base, skipped: 'no records' };
  const ctxAmounts = [...new Set(rows.filter((r) => r.condition === 'context').map((r) => r.amount))].sort(
    (a, b) => a - b,
  );
  const vecAmounts = [...new Set(rows.filter((r) => r.condition !== 'context').map((r) => r.amount))].sort(
    (a, b) => a - b,
  );
  const xLabel = (r: ContextAblationPoint) =>
    r.condition === 'context' ? (r.amount === 0 ? 'none' : `+${r.amount}`) : `K = ${r.amount}`;
  const order = [...ctxAmounts.map((p) => (p === 0 ? 'none' : `+${p}`)), ...vecAmounts.map((k) => `K = ${k}`)];
  const values: Record<string, unknown>[] = [];
  for (const r of rows) {
    const common = {
      panel: `${r.model}, L = ${r.length}`,
      series: r.source,
      x: xLabel(r),
      condition: r.condition === 'context' ? 'context' : 'vectors',
    };
    values.push({
      ...common,
      measure: 'Loss, nats/token',
      value: round(r.loss_mean),
      lo: round(Math.max(0, r.loss_mean - (r.loss_std || 0))),
      hi: round(r.loss_mean + (r.loss_std || 0)),
    });
    values.push({
      ...common,
      measure: 'Accuracy',
      value: round(r.accuracy_mean),
      lo: round(Math.max(0, r.accuracy_mean - (r.accuracy_std || 0))),
      hi: round(Math.min(1, r.accuracy_mean + (r.accuracy_std || 0))),
    });
  }
  const panels = [...new Set(values.map((v) => v.panel as string))].sort();
  const x = {
    field: 'x',
    type: 'ordinal',
    sort: order,
    title: 'Preceding tokens, or K vectors',
    axis: { labelAngle: 0 },
    scale: { type: 'band', paddingInner: 0.1 },
  } as const;
  // Sources side by side within a condition, so their error bars do not hide each other.
  const xOffset = { field: 'series', type: 'nominal', scale: { paddingOuter: 1.5 } } as const;
  const y = { field: 'value', type: 'quantitative', title: null, scale: { zero: true } } as const;
  const color = { field: 'series', type: 'nominal', title: 'Text source', scale: { range: palette } } as const;
  const firstVec = vecAmounts.length ? `K = ${vecAmounts[0]}` : null;
  // A grey rule before the first vectors condition.
  const vectorsStart: Layers = firstVec
    ? [
        {
          mark: { type: 'rule', color: '#999', strokeDash: [4, 3], xOffset: -25 },
          encoding: { x: { datum: firstVec, type: 'ordinal', sort: order } },
        },
      ]
    : [];
  const spec = facetSpec({
    title: base.title,
    values,
    facet: {
      row: { field: 'measure', type: 'nominal', title: null, sort: ['Loss, nats/token', 'Accuracy'] },
      column: { field: 'panel', type: 'nominal', title: null, sort: panels },
    },
    resolve: { scale: { y: 'independent' } },
    width: Math.max(PANEL_W, 46 * order.length),
    height: PANEL_H - 30,
    layer: [
      {
        mark: { type: 'rule', strokeWidth: 1.4 },
        encoding: { x, xOffset, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color },
      },
      {
        mark: { type: 'point', filled: true, size: 55 },
        encoding: {
          x,
          xOffset,
          y,
          color,
          shape: {
            field: 'condition',
            type: 'nominal',
            title: 'Condition',
            scale: { domain: ['context', 'vectors'], range: ['circle', 'diamond'] },
          },
          tooltip: [{ field: 'series' }, { field: 'x' }, { field: 'value' }],
        },
      },
      ...vectorsStart,
    ],
    config: { ...CONFIG, legend: { ...CONFIG.legend, orient: 'bottom' } },
  });
  return { ...base, spec };
}

/** One-step generation: mean accuracy against length, one pass next to autoregressive cramming of the same texts. */
import { LOSSLESS_THRESHOLD } from '../../../../metrics/aggregate.ts';
import {
  clamp,
  facetSpec,
  type FigureEntry,
  log2Ticks,
  PANEL_H,
  PANEL_W,
  round,
} from '../../../../report/figures/common.ts';
import type { OneStepAccuracyRow } from '../tables.ts';

/** A method's capacity (largest length with mean accuracy at the threshold), null when none reaches it. */
export interface OneStepCapacityRow {
  model: string;
  source: string;
  method: string;
  capacity: number | null;
}

export function oneStepAccuracyFigure(
  acc: readonly OneStepAccuracyRow[],
  cap: readonly OneStepCapacityRow[],
): FigureEntry {
  const base = {
    name: 'one_step_accuracy_vs_length',
    title: 'One forward pass vs autoregressive decoding: accuracy by length',
    caption:
      'Mean best accuracy over texts (bars: ±1 std) per length: one-step generation from [e, m, …, m] (solid; every ' +
      'token from one pass) and autoregressive cramming of the same texts with K vectors (dashed; teacher-forced accuracy). ' +
      `Grey line: ${LOSSLESS_THRESHOLD}; dotted verticals: each method's capacity (largest length with mean ≥ ${LOSSLESS_THRESHOLD}).`,
  };
  if (acc.length === 0) return { ...base, skipped: 'no samples' };
  const panel = (r: { model: string; source: string }) => `${r.model} / ${r.source}`;
  const methods = [...new Set(acc.map((r) => r.method))].sort((a, b) =>
    a.startsWith('one') === b.startsWith('one')
      ? a.localeCompare(b, 'en', { numeric: true })
      : a.startsWith('one')
        ? -1
        : 1,
  );
  const values: Record<string, unknown>[] = acc.map((r) => ({
    kind: 'point',
    panel: panel(r),
    method: r.method,
    style: r.method.startsWith('one') ? 'one pass' : 'autoregressive',
    length: r.length,
    accuracy: round(r.best_accuracy_mean ?? 0),
    lo: r.best_accuracy_std === null ? null : round(clamp((r.best_accuracy_mean ?? 0) - r.best_accuracy_std, 0, 1)),
    hi: r.best_accuracy_std === null ? null : round(clamp((r.best_accuracy_mean ?? 0) + r.best_accuracy_std, 0, 1)),
    texts: r.texts,
  }));
  for (const c of cap)
    if (c.capacity !== null)
      values.push({
        kind: 'capacity',
        panel: panel(c),
        method: c.method,
        style: c.method.startsWith('one') ? 'one pass' : 'autoregressive',
        length: c.capacity,
      });
  const lens = acc.map((r) => r.length);
  const x = {
    field: 'length',
    type: 'quantitative',
    scale: { type: 'log', base: 2 },
    title: 'Text length, tokens (BOS counted; log scale)',
    axis: { format: '~g', values: log2Ticks(Math.min(...lens), Math.max(...lens)), grid: true },
  } as const;
  const unitDomain: number[] = [0, 1];
  const y = { type: 'quantitative', scale: { domain: unitDomain }, title: 'Best accuracy (mean ± std)' } as const;
  const color = { field: 'method', type: 'nominal', title: 'Method', sort: methods } as const;
  const dash = {
    field: 'style',
    type: 'nominal',
    title: 'Decoding',
    scale: {
      domain: ['one pass', 'autoregressive'],
      range: [
        [1, 0],
        [5, 3],
      ],
    },
    legend: {
      symbolType: 'stroke',
      symbolSize: 500,
      symbolStrokeWidth: 2,
      encode: { symbols: { update: { stroke: { value: '#333' } } } },
    },
  } as const;
  const panels = [...new Set(acc.map(panel))];
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(2, panels.length),
    width: PANEL_W + 80,
    height: PANEL_H + 20,
    layer: [
      {
        transform: [{ filter: "datum.kind === 'point' && datum.lo !== null" }],
        mark: { type: 'rule', strokeWidth: 1.2, opacity: 0.6 },
        encoding: { x, y: { field: 'lo', ...y }, y2: { field: 'hi' }, color },
      },
      {
        transform: [{ filter: "datum.kind === 'point'" }],
        mark: { type: 'line', point: { filled: true, size: 36 }, strokeWidth: 1.6 },
        encoding: {
          x,
          y: { field: 'accuracy', ...y },
          color,
          strokeDash: dash,
          tooltip: [{ field: 'method' }, { field: 'length' }, { field: 'accuracy' }, { field: 'texts' }],
        },
      },
      {
        mark: { type: 'rule', color: '#777', strokeDash: [5, 4] },
        encoding: { y: { datum: LOSSLESS_THRESHOLD, type: 'quantitative' } },
      },
      {
        transform: [{ filter: "datum.kind === 'capacity'" }],
        mark: { type: 'rule', strokeDash: [2, 2], strokeWidth: 1.5 },
        encoding: { x, color },
      },
    ],
  });
  return { ...base, spec };
}

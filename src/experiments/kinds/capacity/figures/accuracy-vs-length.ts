/** Paper Fig. 1: mean best accuracy against text length, with the capacity marked. */
import type { SampleRecord } from '../../../../results/sample-record.ts';
import { LOSSLESS_THRESHOLD, accuracyByLength, capacityTable } from '../../../../metrics/aggregate.ts';
import {
  clamp,
  facetSpec,
  type FigureEntry,
  log2Ticks,
  modelOrder,
  PANEL_H,
  PANEL_W,
  panelLabeler,
  round,
  sourceOrder,
} from '../../../../report/figures/common.ts';

export function accuracyVsLengthFigure(records: readonly SampleRecord[]): FigureEntry {
  const base = {
    name: 'accuracy_vs_length',
    title: 'Reconstruction accuracy vs text length',
    caption:
      'Mean best teacher-forced accuracy per tested length (error bars: ±1 sample std over texts). ' +
      `Grey dashed line: the ${LOSSLESS_THRESHOLD} threshold; dotted vertical lines: decoding capacity (largest length ` +
      `with mean accuracy ≥ ${LOSSLESS_THRESHOLD}).`,
  };
  const acc = accuracyByLength(records);
  if (acc.length === 0) return { ...base, skipped: 'no samples' };
  const panel = panelLabeler(records);
  const panels: string[] = [];
  for (const m of modelOrder(acc)) {
    for (const k of [...new Set(acc.filter((r) => r.model === m).map((r) => r.n_mem))].sort((a, b) => a - b)) {
      panels.push(panel(m, k));
    }
  }
  const values: Record<string, unknown>[] = acc.map((r) => ({
    kind: 'point',
    panel: panel(r.model, r.n_mem),
    source: r.source,
    length: r.length,
    accuracy: round(r.best_accuracy_mean),
    lo: r.best_accuracy_std === null ? null : round(clamp(r.best_accuracy_mean - r.best_accuracy_std, 0, 1)),
    hi: r.best_accuracy_std === null ? null : round(clamp(r.best_accuracy_mean + r.best_accuracy_std, 0, 1)),
    n: r.n_samples,
  }));
  for (const c of capacityTable(records)) {
    if (c.capacity !== null)
      values.push({ kind: 'capacity', panel: panel(c.model, c.n_mem), source: c.source, length: c.capacity });
  }
  const lens = acc.map((r) => r.length);
  const x = {
    field: 'length',
    type: 'quantitative',
    scale: { type: 'log', base: 2 },
    title: 'Text length, tokens (log scale)',
    axis: { format: '~g', values: log2Ticks(Math.min(...lens), Math.max(...lens)), grid: true },
  } as const;
  const color = { field: 'source', type: 'nominal', title: 'Text source', sort: sourceOrder(records) } as const;
  const yAcc = {
    type: 'quantitative',
    scale: { zero: false, domainMax: 1 },
    title: 'Best accuracy (mean ± std)',
  } as const;
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(3, panels.length),
    width: PANEL_W,
    height: PANEL_H,
    layer: [
      {
        transform: [{ filter: "datum.kind === 'point' && datum.lo !== null" }],
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: { x, y: { field: 'lo', ...yAcc }, y2: { field: 'hi' }, color },
      },
      {
        transform: [{ filter: "datum.kind === 'point'" }],
        mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 1.2, opacity: 0.9 },
        encoding: {
          x,
          y: { field: 'accuracy', ...yAcc },
          color,
          tooltip: [{ field: 'source' }, { field: 'length' }, { field: 'accuracy' }, { field: 'n' }],
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

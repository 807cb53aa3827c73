/** Paper Fig. 3: compressed vs original cross-entropy per text, with the slope-1 fit and the lossless red line. */
import type { SampleRecord } from '../../../../results/sample-record.ts';
import { LOSSLESS_THRESHOLD, ceThresholdFits } from '../../../../metrics/aggregate.ts';
import {
  facetSpec,
  type FigureEntry,
  modelOrder,
  PANEL_H,
  PANEL_W,
  panelLabeler,
  round,
  smallestK,
  sourceOrder,
} from '../../../../report/figures/common.ts';

export function ceScatterFigure(records: readonly SampleRecord[]): FigureEntry {
  const FIT = 'Slope-1 fit (acc < 0.99)';
  const RED = 'Max CE of lossless texts';
  const base = {
    name: 'ce_compressed_vs_original',
    title: 'Compressed vs original cross-entropy per text (paper Fig. 3)',
    caption:
      'One point per text (x: CE without [mem], y: CE with the trained vector, both totals in nats). ' +
      'Dashed: fit y = x + b with the slope fixed at 1 over texts with accuracy < 0.99, so −b is the information ' +
      'gain C_H; red dotted: the largest compressed CE among losslessly compressed texts. Smallest K per model.',
  };
  const rs = smallestK(records).filter((r) => Number.isFinite(r.original_ce) && Number.isFinite(r.compressed_ce));
  if (rs.length === 0) return { ...base, skipped: 'no samples with finite cross-entropies' };
  const panel = panelLabeler(rs);
  const values: Record<string, unknown>[] = rs.map((r) => ({
    kind: 'point',
    panel: panel(r.model, r.n_mem),
    source: r.source,
    x: round(r.original_ce, 2),
    y: round(r.compressed_ce, 2),
    lossless: r.best_accuracy >= LOSSLESS_THRESHOLD ? 'yes (acc ≥ 0.99)' : 'no',
    length: r.length,
    accuracy: round(r.best_accuracy),
    // Which text a point is (tooltips and clicks in `cram view`).
    model: r.model,
    n_mem: r.n_mem,
    sample_index: r.sample_index,
  }));
  for (const f of ceThresholdFits(rs)) {
    const p = panel(f.model, f.n_mem);
    if (f.b !== null && f.fit_x_min !== null && f.fit_x_max !== null) {
      for (const xv of [f.fit_x_min, f.fit_x_max]) {
        values.push({ kind: 'fit', panel: p, source: f.source, line: FIT, x: round(xv, 2), y: round(xv + f.b, 2) });
      }
    }
    if (f.red_line !== null)
      values.push({ kind: 'red', panel: p, source: f.source, line: RED, y: round(f.red_line, 2) });
  }
  const panels = [
    ...new Set(
      modelOrder(rs).flatMap((m) => [...new Set(rs.filter((r) => r.model === m).map((r) => panel(m, r.n_mem)))]),
    ),
  ];
  const color = { field: 'source', type: 'nominal', title: 'Text source', sort: sourceOrder(rs) } as const;
  const dash = {
    field: 'line',
    type: 'nominal',
    title: 'Line',
    scale: {
      domain: [FIT, RED],
      range: [
        [6, 4],
        [2, 2],
      ],
    },
    legend: {
      symbolType: 'stroke',
      symbolSize: 500,
      symbolStrokeWidth: 2,
      encode: { symbols: { update: { stroke: { signal: `datum.value === '${RED}' ? '#d62728' : '#333'` } } } },
    },
  } as const;
  const xEnc = { field: 'x', type: 'quantitative', title: 'Original CE H_LM, nats', scale: { zero: false } } as const;
  const yEnc = { field: 'y', type: 'quantitative', title: 'Compressed CE H_LM+mem, nats' } as const;
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(3, panels.length),
    resolve: { scale: { x: 'independent', y: 'independent' } },
    width: PANEL_W,
    height: PANEL_H,
    layer: [
      {
        transform: [{ filter: "datum.kind === 'point'" }],
        mark: { type: 'point', size: 36, opacity: 0.75, filled: true },
        encoding: {
          x: xEnc,
          y: yEnc,
          color,
          shape: {
            field: 'lossless',
            type: 'nominal',
            title: 'Lossless',
            scale: { domain: ['yes (acc ≥ 0.99)', 'no'], range: ['circle', 'triangle-up'] },
          },
          tooltip: [{ field: 'source' }, { field: 'length' }, { field: 'accuracy' }, { field: 'x' }, { field: 'y' }],
        },
      },
      {
        transform: [{ filter: "datum.kind === 'fit'" }],
        mark: { type: 'line', strokeWidth: 1.8 },
        encoding: { x: xEnc, y: yEnc, color, strokeDash: dash, detail: { field: 'source' } },
      },
      {
        transform: [{ filter: "datum.kind === 'red'" }],
        mark: { type: 'rule', color: '#d62728', strokeWidth: 1.8 },
        encoding: { y: yEnc, strokeDash: dash },
      },
    ],
  });
  return { ...base, spec };
}

/**
 * Paper Fig. 7 (solution-space): distributions of the cosine similarity between solutions — restarts of the same text
 * against solutions of different texts — as histograms normalised to the share of pairs per bin.
 */
import { CONFIG, facetSpec, type FigureEntry, PANEL_H, PANEL_W, round } from '../../../../report/figures/common.ts';

export interface CosinePoint {
  /** Facet: e.g. "model, source, L = 16, K = 1". */
  panel: string;
  pair: 'same text' | 'different texts';
  cosine: number;
}

export const PAIR_COLORS = { 'same text': '#e45756', 'different texts': '#4c78a8' } as const;

export function solutionCosineFigure(points: readonly CosinePoint[], bins = 30): FigureEntry {
  const base = {
    name: 'solution_cosine',
    title: 'Cosine similarity of solutions (Fig. 7)',
    caption:
      'Share of solution pairs per cosine-similarity bin: restarts of the same text (red) and solutions of different texts (blue). ' +
      'Dashed lines: the means.',
  };
  const usable = points.filter((p) => Number.isFinite(p.cosine));
  if (usable.length === 0) return { ...base, skipped: 'no analysed solutions yet' };
  const lo = Math.min(...usable.map((p) => p.cosine));
  const hi = Math.max(...usable.map((p) => p.cosine));
  const width = Math.max((hi - lo) / bins, 1e-3);
  const start = lo - width / 2;
  const counts = new Map<string, { panel: string; pair: string; bin: number; n: number }>();
  const totals = new Map<string, number>();
  for (const p of usable) {
    const b = Math.min(Math.floor((p.cosine - start) / width), bins + 1);
    const key = `${p.panel}\u0000${p.pair}\u0000${b}`;
    const c = counts.get(key) ?? { panel: p.panel, pair: p.pair, bin: b, n: 0 };
    c.n++;
    counts.set(key, c);
    totals.set(`${p.panel}\u0000${p.pair}`, (totals.get(`${p.panel}\u0000${p.pair}`) ?? 0) + 1);
  }
  const values: Record<string, unknown>[] = [...counts.values()].map((c) => ({
    kind: 'bin',
    panel: c.panel,
    pair: c.pair,
    x0: round(start + c.bin * width, 5),
    x1: round(start + (c.bin + 1) * width, 5),
    share: round(c.n / totals.get(`${c.panel}\u0000${c.pair}`)!, 5),
    n: c.n,
  }));
  for (const [key, n] of totals) {
    const [panel, pair] = key.split('\u0000');
    const xs = usable.filter((p) => p.panel === panel && p.pair === pair).map((p) => p.cosine);
    values.push({ kind: 'mean', panel, pair, mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 5), n });
  }
  const panels = [...new Set(usable.map((p) => p.panel))].sort();
  const color = {
    field: 'pair',
    type: 'nominal',
    title: 'Pairs of solutions',
    scale: { domain: Object.keys(PAIR_COLORS), range: Object.values(PAIR_COLORS) },
  } as const;
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(2, panels.length),
    resolve: { scale: { x: 'independent' } },
    width: PANEL_W + 60,
    height: PANEL_H,
    layer: [
      {
        transform: [{ filter: "datum.kind === 'bin'" }],
        mark: { type: 'rect', opacity: 0.55, stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: { field: 'x0', type: 'quantitative', title: 'Cosine similarity' },
          x2: { field: 'x1' },
          y: { field: 'share', type: 'quantitative', title: 'Share of pairs', stack: null },
          y2: { datum: 0 },
          color,
          tooltip: [
            { field: 'pair' },
            { field: 'x0', title: 'from' },
            { field: 'x1', title: 'to' },
            { field: 'n', title: 'pairs' },
          ],
        },
      },
      {
        transform: [{ filter: "datum.kind === 'mean'" }],
        mark: { type: 'rule', strokeDash: [5, 3], strokeWidth: 1.6 },
        encoding: { x: { field: 'mean', type: 'quantitative' }, color },
      },
    ],
    config: { ...CONFIG, header: { ...CONFIG.header, labelLimit: 640 } },
  });
  return { ...base, spec };
}

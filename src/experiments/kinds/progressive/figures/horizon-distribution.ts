/** Progressive cramming: each text's compression horizon per model and K, with the fixed-grid capacity of the same texts. */
import { capacityTable } from '../../../../metrics/aggregate.ts';
import type { SampleRecord } from '../../../../results/sample-record.ts';
import { type FigureEntry, PANEL_W, modelOrder, layeredSpec } from '../../../../report/figures/common.ts';

/** One text's progressive result, as this figure reads it. */
export interface HorizonPoint {
  model: string;
  /** The model's width (models are ordered by it). */
  embed_dim: number;
  source: string;
  n_mem: number;
  sample_index: number;
  /** Longest prefix greedy regeneration reproduces from the kept vectors. */
  horizon: number;
  steps: number;
  /** Largest grid length the same text was regenerated exactly at, crammed from scratch; null without a grid. */
  grid_exact_max: number | null;
}

export function horizonDistributionFigure(
  records: readonly HorizonPoint[],
  grid: readonly SampleRecord[],
): FigureEntry {
  const HORIZON = 'Horizon of a text';
  const MEDIAN = 'Median horizon';
  const CAP = 'Grid capacity (mean acc ≥ 0.99)';
  const EXACT = 'Grid, exact regeneration (mean per text)';
  const base = {
    name: 'horizon_distribution',
    title: 'Compression horizons per text (progressive cramming)',
    caption:
      'One dot per text: the longest prefix (tokens, BOS counted) that greedy regeneration reproduces from the kept ' +
      'vectors (dots spread vertically by text index so equal horizons stay visible). Black bar: median. Diamonds: the same ' +
      "texts crammed from scratch on the fixed grid: red, the paper's capacity (largest length with mean accuracy ≥ 0.99); " +
      'orange, the mean over texts of the largest grid length regenerated exactly.',
  };
  if (records.length === 0) return { ...base, skipped: 'no texts' };
  const several = new Set(records.map((r) => r.source)).size > 1;
  const row = (r: { model: string; source: string; n_mem: number }) =>
    `${r.model}${several ? ` / ${r.source}` : ''}, K = ${r.n_mem}`;
  const rows = [
    ...new Set(
      modelOrder(records).flatMap((m) =>
        records
          .filter((r) => r.model === m)
          .sort((a, b) => a.n_mem - b.n_mem)
          .map(row),
      ),
    ),
  ];
  const values: Record<string, unknown>[] = records.map((r) => ({
    row: row(r),
    what: HORIZON,
    x: r.horizon,
    jitter: ((r.sample_index * 37) % 17) / 16 - 0.5,
    index: r.sample_index,
    steps: r.steps,
  }));
  const groups = new Map<string, HorizonPoint[]>();
  for (const r of records) groups.set(row(r), [...(groups.get(row(r)) ?? []), r]);
  for (const [k, rs] of groups) {
    const h = rs.map((r) => r.horizon).sort((a, b) => a - b);
    values.push({
      row: k,
      what: MEDIAN,
      x: h.length % 2 ? h[(h.length - 1) / 2] : (h[h.length / 2 - 1] + h[h.length / 2]) / 2,
    });
    const ex = rs.filter((r) => r.grid_exact_max !== null);
    if (ex.length)
      values.push({
        row: k,
        what: EXACT,
        x: Number((ex.reduce((a, r) => a + r.grid_exact_max!, 0) / ex.length).toFixed(2)),
      });
  }
  for (const c of capacityTable([...grid])) {
    const k = row(c);
    if (c.capacity !== null && groups.has(k)) values.push({ row: k, what: CAP, x: c.capacity });
  }
  const y = { field: 'row', type: 'nominal', title: null, sort: rows } as const;
  const x = {
    field: 'x',
    type: 'quantitative',
    title: 'Tokens (BOS counted)',
    scale: { zero: true },
    axis: { tickMinStep: 1, format: 'd' },
  } as const;
  const domain = [HORIZON, MEDIAN, CAP, EXACT];
  const legend = {
    field: 'what',
    type: 'nominal',
    title: null,
    scale: { domain, range: ['#4c78a8', '#222', '#d62728', '#f58518'] },
  } as const;
  const shape = {
    field: 'what',
    type: 'nominal',
    title: null,
    scale: { domain, range: ['circle', 'stroke', 'diamond', 'diamond'] },
  } as const;
  const spec = layeredSpec({
    title: base.title,
    values,
    width: PANEL_W + 200,
    height: { step: 46 },
    layer: [
      {
        transform: [{ filter: `datum.what === '${HORIZON}'` }],
        mark: { type: 'point', filled: true, size: 46, opacity: 0.7 },
        encoding: {
          x,
          y,
          yOffset: { field: 'jitter', type: 'quantitative', scale: { domain: [-1.4, 1.4] } },
          color: legend,
          shape,
          tooltip: [{ field: 'index' }, { field: 'x' }, { field: 'steps' }],
        },
      },
      {
        transform: [{ filter: `datum.what === '${MEDIAN}'` }],
        mark: { type: 'tick', thickness: 2, size: 40, opacity: 0.8 },
        encoding: { x, y, color: legend },
      },
      {
        transform: [{ filter: `datum.what === '${CAP}'` }],
        mark: { type: 'point', size: 150, filled: true, opacity: 0.85 },
        encoding: { x, y, color: legend, shape },
      },
      {
        transform: [{ filter: `datum.what === '${EXACT}'` }],
        mark: { type: 'point', size: 150, filled: false, strokeWidth: 2 },
        encoding: { x, y, color: legend, shape },
      },
    ],
  });
  return { ...base, spec };
}

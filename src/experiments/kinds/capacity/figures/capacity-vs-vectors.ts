/** Paper Fig. 4: decoding capacity and token gain against the number of vectors K. */
import type { SampleRecord } from '../../../../results/sample-record.ts';
import { capacityTable, type CapacityRow } from '../../../../metrics/aggregate.ts';
import {
  facetSpec,
  type FigureEntry,
  log2Ticks,
  modelOrder,
  PANEL_H,
  PANEL_W,
  round,
  sourceOrder,
} from '../../../../report/figures/common.ts';

export function vectorsScalingFigure(records: readonly SampleRecord[]): FigureEntry {
  const CAP = 'Decoding capacity';
  const GAIN = 'Token gain (mean ± std)';
  const REF = 'Linear: capacity × K / K_min';
  const base = {
    name: 'capacity_vs_vectors',
    title: 'Capacity and token gain vs number of [mem] vectors (paper Fig. 4)',
    caption:
      'Decoding capacity and mean token gain (over texts with accuracy ≤ 0.99) against K, log–log. ' +
      'Thin dashed lines: linear scaling from the smallest K.',
  };
  const table = capacityTable(records);
  const multiK = new Map<string, Set<number>>();
  for (const r of table) {
    const k = `${r.model}\u0000${r.source}`;
    if (!multiK.has(k)) multiK.set(k, new Set());
    multiK.get(k)!.add(r.n_mem);
  }
  const keep = table.filter((r) => (multiK.get(`${r.model}\u0000${r.source}`)?.size ?? 0) > 1);
  if (keep.length === 0) {
    const ks = [...new Set(records.map((r) => r.n_mem))].sort((a, b) => a - b);
    return {
      ...base,
      skipped: `needs at least two values of K for one model and source (have K = ${ks.join(', ') || 'none'})`,
    };
  }
  const values: Record<string, unknown>[] = [];
  const groups = new Map<string, CapacityRow[]>();
  for (const r of keep) {
    const k = `${r.model}\u0000${r.source}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  for (const rows of groups.values()) {
    rows.sort((a, b) => a.n_mem - b.n_mem);
    for (const r of rows) {
      if (r.capacity !== null)
        values.push({ model: r.model, source: r.source, K: r.n_mem, metric: CAP, value: r.capacity });
      if (r.token_gain_mean !== null && r.token_gain_mean > 0) {
        const sd = r.token_gain_std ?? 0;
        values.push({
          model: r.model,
          source: r.source,
          K: r.n_mem,
          metric: GAIN,
          value: round(r.token_gain_mean, 1),
          lo: round(Math.max(r.token_gain_mean - sd, r.token_gain_mean / 4), 1),
          hi: round(r.token_gain_mean + sd, 1),
        });
      }
    }
    const first = rows.find((r) => r.capacity !== null);
    if (first) {
      for (const r of rows) {
        values.push({
          model: r.model,
          source: r.source,
          K: r.n_mem,
          metric: REF,
          value: round((first.capacity! * r.n_mem) / first.n_mem, 1),
        });
      }
    }
  }
  if (!values.some((v) => v.metric !== REF)) return { ...base, skipped: 'no capacity or token gain at several K' };
  const sources = sourceOrder(keep);
  const models = modelOrder(keep);
  const kVals = keep.map((r) => r.n_mem);
  const yVals = values.flatMap((v) => [v.value, v.lo, v.hi]).filter((v): v is number => typeof v === 'number' && v > 0);
  const x = {
    field: 'K',
    type: 'quantitative',
    scale: { type: 'log', base: 2, nice: false },
    title: 'Number of [mem] vectors K (log scale)',
    axis: { format: '~g', values: log2Ticks(Math.min(...kVals), Math.max(...kVals)) },
  } as const;
  const y = {
    field: 'value',
    type: 'quantitative',
    scale: { type: 'log', base: 2 },
    title: 'Tokens (log scale)',
    axis: { format: '~g', values: log2Ticks(Math.min(...yVals), Math.max(...yVals)) },
  } as const;
  const color = { field: 'model', type: 'nominal', title: 'Model', sort: models } as const;
  const dash = {
    field: 'metric',
    type: 'nominal',
    title: 'Quantity',
    scale: {
      domain: [CAP, GAIN, REF],
      range: [
        [1, 0],
        [5, 3],
        [2, 3],
      ],
    },
    legend: {
      symbolType: 'stroke',
      symbolSize: 500,
      symbolStrokeWidth: 2,
      encode: { symbols: { update: { stroke: { value: '#333' } } } },
    },
  } as const;
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'source', type: 'nominal', title: null, sort: sources },
    columns: Math.min(3, sources.length),
    width: PANEL_W + 40,
    height: PANEL_H + 40,
    layer: [
      {
        transform: [{ filter: `datum.metric === '${GAIN}'` }],
        mark: { type: 'rule', strokeWidth: 1.2 },
        encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color },
      },
      {
        transform: [{ filter: `datum.metric === '${CAP}'` }],
        mark: { type: 'line', point: { filled: true, size: 40, shape: 'circle' }, strokeWidth: 1.8 },
        encoding: { x, y, color, strokeDash: dash },
      },
      {
        transform: [{ filter: `datum.metric === '${GAIN}'` }],
        mark: { type: 'line', point: { filled: true, size: 40, shape: 'square' }, strokeWidth: 1.8 },
        encoding: { x, y, color, strokeDash: dash },
      },
      {
        transform: [{ filter: `datum.metric === '${REF}'` }],
        mark: { type: 'line', strokeWidth: 1, opacity: 0.6 },
        encoding: { x, y, color, strokeDash: dash },
      },
    ],
  });
  return { ...base, spec };
}

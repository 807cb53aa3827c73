/** One-step generation: time to decode a text in one forward pass vs greedily with the key/value cache. */
import { facetSpec, type FigureEntry, log2Ticks, PANEL_H, PANEL_W, round } from '../../../../report/figures/common.ts';

/** Decoding times of one model at one length (milliseconds; median and fastest over the timed texts). */
export interface DecodeTimeRow {
  model: string;
  length: number;
  onepass_ms: number;
  greedy_ms: number;
  onepass_min_ms: number;
  greedy_min_ms: number;
  /** Fastest greedy / fastest one pass. */
  speedup: number;
}

export function decodeTimeFigure(rows: readonly DecodeTimeRow[]): FigureEntry {
  const base = {
    name: 'decode_time',
    title: 'Decoding time: one forward pass vs greedy regeneration',
    caption:
      "Wall time (batch 1, log scale) to produce a text's L−1 tokens: one pass of [e, m, …, m] against greedy " +
      'decoding with the key/value cache (one call per token). Points: fastest run over the timed texts; ticks: median. Labels: speed-up of the one pass (fastest runs).',
  };
  if (rows.length === 0) return { ...base, skipped: 'no text was timed (timing_samples: 0)' };
  const ONE = 'one forward pass';
  const GREEDY = 'greedy, key/value cache';
  const values: Record<string, unknown>[] = [];
  for (const r of rows) {
    values.push({
      model: r.model,
      length: r.length,
      method: ONE,
      ms: round(r.onepass_min_ms, 3),
      median: round(r.onepass_ms, 3),
    });
    values.push({
      model: r.model,
      length: r.length,
      method: GREEDY,
      ms: round(r.greedy_min_ms, 3),
      median: round(r.greedy_ms, 3),
      label: `${r.speedup.toFixed(0)}×`,
    });
  }
  const lens = rows.map((r) => r.length);
  const ms = values.flatMap((v) => [v.ms as number, v.median as number]);
  const x = {
    field: 'length',
    type: 'quantitative',
    scale: { type: 'log', base: 2 },
    title: 'Text length, tokens (log scale)',
    axis: { format: '~g', values: log2Ticks(Math.min(...lens), Math.max(...lens)) },
  } as const;
  const y = {
    field: 'ms',
    type: 'quantitative',
    scale: { type: 'log' },
    title: 'Milliseconds (log scale)',
    axis: { format: '~g' },
  } as const;
  const color = { field: 'method', type: 'nominal', title: 'Decoding', sort: [ONE, GREEDY] } as const;
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'model', type: 'nominal', title: null },
    width: PANEL_W + 60,
    height: PANEL_H + 20,
    layer: [
      {
        mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 1.8 },
        encoding: {
          x,
          y: { ...y, scale: { type: 'log', domain: [Math.min(...ms) / 1.5, Math.max(...ms) * 2.5] } },
          color,
        },
      },
      {
        mark: { type: 'tick', thickness: 2, size: 12, orient: 'horizontal', opacity: 0.6 },
        encoding: { x, y: { ...y, field: 'median' }, color },
      },
      {
        transform: [{ filter: 'isValid(datum.label)' }],
        mark: { type: 'text', dy: -12, fontSize: 11 },
        encoding: { x, y, text: { field: 'label' } },
      },
    ],
  });
  return { ...base, spec };
}

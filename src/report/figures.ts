/**
 * Vega-Lite specs of the paper's figures, built from SampleRecord[] / CurveRecord[].
 * Each builder returns a FigureEntry: a spec, or `skipped` with the reason when there is nothing to show.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { CurveRecord, SampleRecord } from '../results/sample-record.ts';
import {
  LOSSLESS_THRESHOLD, accuracyByLength, capacityTable, ceThresholdFits, type CapacityRow,
} from '../metrics/aggregate.ts';
import { theoreticalCapacity } from '../metrics/text-metrics.ts';
import { FONT_FAMILY } from './render.ts';

export interface FigureEntry {
  /** File stem under figures/. */
  name: string;
  title: string;
  /** One or two sentences for the report. */
  caption: string;
  spec?: TopLevelSpec;
  /** Why the figure was not drawn. */
  skipped?: string;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const PANEL_W = 260;
const PANEL_H = 200;
const THEORETICAL = 'Theoretical (Eq. 1)';
/** Vega-Lite's default categorical colours (tableau10), for scales whose range we set ourselves. */
const palette = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

const CONFIG = {
  font: FONT_FAMILY,
  background: 'white',
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelOverlap: true, labelLimit: 180 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320, symbolStrokeWidth: 2 },
  header: { labelFontSize: 12, labelFontWeight: 'bold', labelLimit: 320 },
  title: { fontSize: 14, anchor: 'start', offset: 10 },
  view: { stroke: '#ccc' },
  facet: { spacing: 28 },
  concat: { spacing: 36 },
} as const;

/** Models sorted by embed_dim, then name (smallest model first, as in the paper's tables). */
export function modelOrder(records: readonly { model: string; embed_dim: number }[]): string[] {
  const dims = new Map<string, number>();
  for (const r of records) if (!dims.has(r.model)) dims.set(r.model, r.embed_dim);
  return [...dims.keys()].sort((a, b) => dims.get(a)! - dims.get(b)! || a.localeCompare(b));
}

export function sourceOrder(records: readonly { source: string }[]): string[] {
  return [...new Set(records.map((r) => r.source))].sort();
}

/** Keep, per model, only the smallest K (the paper's single-vector figures). */
function smallestK<T extends { model: string; n_mem: number }>(rows: readonly T[]): T[] {
  const minK = new Map<string, number>();
  for (const r of rows) minK.set(r.model, Math.min(minK.get(r.model) ?? Infinity, r.n_mem));
  return rows.filter((r) => r.n_mem === minK.get(r.model));
}

/** Facet panel label: the model, plus K when several K are present. */
function panelLabeler(records: readonly { n_mem: number }[]): (model: string, k: number) => string {
  const several = new Set(records.map((r) => r.n_mem)).size > 1;
  return (model, k) => (several ? `${model}, K = ${k}` : model);
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** Powers of two covering [min, max] (axis ticks of a log scale; vega's own log ticks are crowded). */
export function log2Ticks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > 0)) return [];
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log2(min)); e <= Math.ceil(Math.log2(max)); e++) ticks.push(2 ** e);
  // Keep at most ~8 labels: every 2nd/3rd power when the range is wide.
  const every = Math.ceil(ticks.length / 8);
  return ticks.filter((_, i) => i % every === 0);
}

/** Multi-line axis label "model (d=768)" → ["model", "d=768"]. */
const MODEL_LABEL_EXPR = "split(replace(datum.label, ' (', '|('), '|')";
const round = (v: number, digits = 4) => Number(v.toFixed(digits));

// ------------------------------------------------------------------ (a) accuracy vs length

export function accuracyVsLengthFigure(records: readonly SampleRecord[]): FigureEntry {
  const base = {
    name: 'accuracy_vs_length',
    title: 'Reconstruction accuracy vs text length',
    caption: 'Mean best teacher-forced accuracy per tested length (error bars: ±1 sample std over texts). '
      + `Grey dashed line: the ${LOSSLESS_THRESHOLD} threshold; dotted vertical lines: decoding capacity (largest length `
      + `with mean accuracy ≥ ${LOSSLESS_THRESHOLD}).`,
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
    kind: 'point', panel: panel(r.model, r.n_mem), source: r.source, length: r.length,
    accuracy: round(r.best_accuracy_mean),
    lo: r.best_accuracy_std === null ? null : round(clamp(r.best_accuracy_mean - r.best_accuracy_std, 0, 1)),
    hi: r.best_accuracy_std === null ? null : round(clamp(r.best_accuracy_mean + r.best_accuracy_std, 0, 1)),
    n: r.n_samples,
  }));
  for (const c of capacityTable(records)) {
    if (c.capacity !== null) values.push({ kind: 'capacity', panel: panel(c.model, c.n_mem), source: c.source, length: c.capacity });
  }
  const lens = acc.map((r) => r.length);
  const x = {
    field: 'length', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'Text length, tokens (log scale)',
    axis: { format: '~g', values: log2Ticks(Math.min(...lens), Math.max(...lens)), grid: true },
  } as const;
  const color = { field: 'source', type: 'nominal', title: 'Text source', sort: sourceOrder(records) } as const;
  const yAcc = { type: 'quantitative', scale: { zero: false, domainMax: 1 }, title: 'Best accuracy (mean ± std)' } as const;
  const spec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(3, panels.length),
    spec: {
      width: PANEL_W, height: PANEL_H,
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
            x, y: { field: 'accuracy', ...yAcc }, color,
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
    },
    config: CONFIG,
  } as unknown as TopLevelSpec;
  return { ...base, spec };
}

// ------------------------------------------------------------------ (b) compressed CE vs original CE (Fig. 3)

export function ceScatterFigure(records: readonly SampleRecord[]): FigureEntry {
  const FIT = 'Slope-1 fit (acc < 0.99)';
  const RED = 'Max CE of lossless texts';
  const base = {
    name: 'ce_compressed_vs_original',
    title: 'Compressed vs original cross-entropy per text (paper Fig. 3)',
    caption: 'One point per text (x: CE without [mem], y: CE with the trained vector, both totals in nats). '
      + 'Dashed: fit y = x + b with the slope fixed at 1 over texts with accuracy < 0.99, so −b is the information '
      + 'gain C_H; red dotted: the largest compressed CE among losslessly compressed texts. Smallest K per model.',
  };
  const rs = smallestK(records).filter((r) => Number.isFinite(r.original_ce) && Number.isFinite(r.compressed_ce));
  if (rs.length === 0) return { ...base, skipped: 'no samples with finite cross-entropies' };
  const panel = panelLabeler(rs);
  const values: Record<string, unknown>[] = rs.map((r) => ({
    kind: 'point', panel: panel(r.model, r.n_mem), source: r.source,
    x: round(r.original_ce, 2), y: round(r.compressed_ce, 2),
    lossless: r.best_accuracy >= LOSSLESS_THRESHOLD ? 'yes (acc ≥ 0.99)' : 'no',
    length: r.length, accuracy: round(r.best_accuracy),
  }));
  for (const f of ceThresholdFits(rs)) {
    const p = panel(f.model, f.n_mem);
    if (f.b !== null && f.fit_x_min !== null && f.fit_x_max !== null) {
      for (const xv of [f.fit_x_min, f.fit_x_max]) {
        values.push({ kind: 'fit', panel: p, source: f.source, line: FIT, x: round(xv, 2), y: round(xv + f.b, 2) });
      }
    }
    if (f.red_line !== null) values.push({ kind: 'red', panel: p, source: f.source, line: RED, y: round(f.red_line, 2) });
  }
  const panels = [...new Set(modelOrder(rs).flatMap((m) =>
    [...new Set(rs.filter((r) => r.model === m).map((r) => panel(m, r.n_mem)))]))];
  const color = { field: 'source', type: 'nominal', title: 'Text source', sort: sourceOrder(rs) } as const;
  const dash = {
    field: 'line', type: 'nominal', title: 'Line',
    scale: { domain: [FIT, RED], range: [[6, 4], [2, 2]] },
    legend: { symbolType: 'stroke', symbolSize: 500, symbolStrokeWidth: 2, encode: { symbols: { update: { stroke: { signal: `datum.value === '${RED}' ? '#d62728' : '#333'` } } } } },
  } as const;
  const xEnc = { field: 'x', type: 'quantitative', title: 'Original CE H_LM, nats', scale: { zero: false } } as const;
  const yEnc = { field: 'y', type: 'quantitative', title: 'Compressed CE H_LM+mem, nats' } as const;
  const spec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels },
    columns: Math.min(3, panels.length),
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: PANEL_W, height: PANEL_H,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'point'" }],
          mark: { type: 'point', size: 36, opacity: 0.75, filled: true },
          encoding: {
            x: xEnc, y: yEnc, color,
            shape: { field: 'lossless', type: 'nominal', title: 'Lossless', scale: { domain: ['yes (acc ≥ 0.99)', 'no'], range: ['circle', 'triangle-up'] } },
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
    },
    config: CONFIG,
  } as unknown as TopLevelSpec;
  return { ...base, spec };
}

// ------------------------------------------------------------------ (c) capacity and gain vs K (Fig. 4)

export function vectorsScalingFigure(records: readonly SampleRecord[]): FigureEntry {
  const CAP = 'Decoding capacity';
  const GAIN = 'Token gain (mean ± std)';
  const REF = 'Linear: capacity × K / K_min';
  const base = {
    name: 'capacity_vs_vectors',
    title: 'Capacity and token gain vs number of [mem] vectors (paper Fig. 4)',
    caption: 'Decoding capacity and mean token gain (over texts with accuracy ≤ 0.99) against K, log–log. '
      + 'Thin dashed lines: linear scaling from the smallest K.',
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
    return { ...base, skipped: `needs at least two values of K for one model and source (have K = ${ks.join(', ') || 'none'})` };
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
      if (r.capacity !== null) values.push({ model: r.model, source: r.source, K: r.n_mem, metric: CAP, value: r.capacity });
      if (r.token_gain_mean !== null && r.token_gain_mean > 0) {
        const sd = r.token_gain_std ?? 0;
        values.push({
          model: r.model, source: r.source, K: r.n_mem, metric: GAIN, value: round(r.token_gain_mean, 1),
          lo: round(Math.max(r.token_gain_mean - sd, r.token_gain_mean / 4), 1), hi: round(r.token_gain_mean + sd, 1),
        });
      }
    }
    const first = rows.find((r) => r.capacity !== null);
    if (first) {
      for (const r of rows) {
        values.push({ model: r.model, source: r.source, K: r.n_mem, metric: REF, value: round(first.capacity! * r.n_mem / first.n_mem, 1) });
      }
    }
  }
  if (!values.some((v) => v.metric !== REF)) return { ...base, skipped: 'no capacity or token gain at several K' };
  const sources = sourceOrder(keep);
  const models = modelOrder(keep);
  const kVals = keep.map((r) => r.n_mem);
  const yVals = values.flatMap((v) => [v.value, v.lo, v.hi]).filter((v): v is number => typeof v === 'number' && v > 0);
  const x = {
    field: 'K', type: 'quantitative', scale: { type: 'log', base: 2, nice: false }, title: 'Number of [mem] vectors K (log scale)',
    axis: { format: '~g', values: log2Ticks(Math.min(...kVals), Math.max(...kVals)) },
  } as const;
  const y = {
    field: 'value', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'Tokens (log scale)',
    axis: { format: '~g', values: log2Ticks(Math.min(...yVals), Math.max(...yVals)) },
  } as const;
  const color = { field: 'model', type: 'nominal', title: 'Model', sort: models } as const;
  const dash = {
    field: 'metric', type: 'nominal', title: 'Quantity', scale: { domain: [CAP, GAIN, REF], range: [[1, 0], [5, 3], [2, 3]] },
    legend: { symbolType: 'stroke', symbolSize: 500, symbolStrokeWidth: 2, encode: { symbols: { update: { stroke: { value: '#333' } } } } },
  } as const;
  const spec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    facet: { field: 'source', type: 'nominal', title: null, sort: sources },
    columns: Math.min(3, sources.length),
    spec: {
      width: PANEL_W + 40, height: PANEL_H + 40,
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
    },
    config: CONFIG,
  } as unknown as TopLevelSpec;
  return { ...base, spec };
}

// ------------------------------------------------------------------ (d) theoretical vs achieved (Fig. 5)

export function utilizationFigure(records: readonly SampleRecord[]): FigureEntry {
  const base = {
    name: 'theoretical_vs_achieved',
    title: 'Theoretical capacity vs achieved token gain, and capacity utilization (paper Fig. 5)',
    caption: 'Left: theoretical capacity d·16/log2(V) (tokens, Eq. 1) next to the mean token gain per source '
      + '(texts with accuracy ≤ 0.99; error bars ±1 std). Right: utilization = token gain / theoretical capacity. Smallest K per model.',
  };
  const table = smallestK(capacityTable(records));
  const withGain = table.filter((r) => r.token_gain_mean !== null);
  if (withGain.length === 0) return { ...base, skipped: 'no texts with accuracy ≤ 0.99, so no token gain to compare' };
  const models = modelOrder(table);
  const sources = sourceOrder(withGain);
  const values: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  for (const r of table) {
    if (!seen.has(r.model)) {
      seen.add(r.model);
      values.push({ panel: 'tokens', model: r.model, series: THEORETICAL, value: round(r.theoretical_capacity, 1) });
    }
  }
  for (const r of withGain) {
    const sd = r.token_gain_std ?? 0;
    values.push({
      panel: 'tokens', model: r.model, series: r.source, value: round(r.token_gain_mean!, 1),
      lo: r.token_gain_std === null ? null : round(Math.max(0, r.token_gain_mean! - sd), 1),
      hi: r.token_gain_std === null ? null : round(r.token_gain_mean! + sd, 1),
    });
    values.push({ panel: 'util', model: r.model, series: r.source, src: r.source, value: round(r.utilization!, 4) });
  }
    const color = {
    field: 'series', type: 'nominal', title: null,
    scale: { domain: [THEORETICAL, ...sources], range: ['#b0b0b0', ...sources.map((_, i) => palette[i % palette.length])] },
  } as const;
  const xModel = { field: 'model', type: 'nominal', sort: models, title: 'Model', axis: { labelAngle: -30, labelLimit: 200, labelOverlap: false } } as const;
  const spec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    resolve: { scale: { x: 'independent', xOffset: 'independent', y: 'independent', color: 'shared' } },
    hconcat: [
      {
        width: { step: 22 * (sources.length + 1) + 10 }, height: PANEL_H + 40,
        layer: [
          {
            transform: [{ filter: "datum.panel === 'tokens'" }],
            mark: { type: 'bar' },
            encoding: {
              x: xModel, xOffset: { field: 'series', sort: [THEORETICAL, ...sources] },
              y: { field: 'value', type: 'quantitative', title: 'Tokens: theoretical capacity vs token gain' }, color,
            },
          },
          {
            transform: [{ filter: "datum.panel === 'tokens' && isValid(datum.lo)" }],
            mark: { type: 'rule', color: 'black' },
            encoding: {
              x: xModel, xOffset: { field: 'series', sort: [THEORETICAL, ...sources] },
              y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' },
            },
          },
        ],
      },
      {
        width: { step: 22 * sources.length + 10 }, height: PANEL_H + 40,
        transform: [{ filter: "datum.panel === 'util'" }],
        mark: { type: 'bar' },
        encoding: {
          x: xModel, xOffset: { field: 'src', sort: sources, scale: { domain: sources } },
          y: { field: 'value', type: 'quantitative', title: 'Utilization: token gain / theoretical', axis: { format: '.1~%' } },
          color,
        },
      },
    ],
    config: CONFIG,
  } as unknown as TopLevelSpec;
  return { ...base, spec };
}

// ------------------------------------------------------------------ (e) optimisation curves

export function curvesFigure(
  curves: readonly CurveRecord[], records: readonly SampleRecord[] = [], maxPointsPerCurve = 400,
): FigureEntry {
  const base = {
    name: 'optimization_curves',
    title: 'Optimization curves',
    caption: 'Teacher-forced accuracy and mean cross-entropy loss per step for the recorded texts.',
  };
  const usable = curves.filter((c) => c.loss.length > 0 || c.accuracy.length > 0);
  if (usable.length === 0) return { ...base, skipped: 'no curves recorded' };
  const values: Record<string, unknown>[] = [];
  const severalK = new Set(usable.map((c) => c.n_mem)).size > 1;
  for (const c of usable) {
    const n = Math.max(c.loss.length, c.accuracy.length);
    const stride = Math.max(1, Math.ceil(n / maxPointsPerCurve));
    const id = `${c.model} | ${c.source} | L=${c.length}${severalK ? ` K=${c.n_mem}` : ''} | #${c.sample_index}`;
    for (let s = 0; s < n; s += stride) push(s);
    if ((n - 1) % stride !== 0) push(n - 1);
    function push(s: number): void {
      const loss = c.loss[s];
      const acc = c.accuracy[s];
      values.push({
        id, model: c.model, source: c.source, step: s,
        loss: loss === undefined || !Number.isFinite(loss) ? null : round(Math.max(loss, 1e-6), 6),
        accuracy: acc === undefined || !Number.isFinite(acc) ? null : round(acc),
      });
    }
  }
  const dims = new Map(records.map((r) => [r.model, r.embed_dim]));
  const models = modelOrder(usable.map((c) => ({ model: c.model, embed_dim: dims.get(c.model) ?? 0 })));
  const color = { field: 'model', type: 'nominal', title: 'Model', sort: models } as const;
  const dash = { field: 'source', type: 'nominal', title: 'Text source', sort: sourceOrder(usable) } as const;
  const x = { field: 'step', type: 'quantitative', title: 'Optimization step' } as const;
  const panel = (field: 'accuracy' | 'loss', title: string, log: boolean) => ({
    width: PANEL_W + 40, height: PANEL_H + 20,
    transform: [{ filter: `datum.${field} !== null` }],
    mark: { type: 'line', strokeWidth: 1.4, opacity: 0.85 },
    encoding: {
      x,
      y: { field, type: 'quantitative', title, ...(log ? { scale: { type: 'log' } } : { scale: { domain: [0, 1] } }) },
      color, strokeDash: dash, detail: { field: 'id' },
    },
  });
  const spec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    hconcat: [
      panel('accuracy', 'Teacher-forced accuracy', false),
      panel('loss', 'Loss, nats/token (log scale)', true),
    ],
    config: CONFIG,
  } as unknown as TopLevelSpec;
  return { ...base, spec };
}

// ------------------------------------------------------------------ capacity vs model (compare)

export function capacityByModelFigure(records: readonly SampleRecord[]): FigureEntry {
  const base = {
    name: 'capacity_vs_model',
    title: 'Decoding capacity per model',
    caption: 'Largest tested length with mean accuracy ≥ 0.99 per model (sorted by embedding width d) and source; '
      + 'grey dashed: theoretical capacity d·16/log2(V). Smallest K per model.',
  };
  const table = smallestK(capacityTable(records));
  if (!table.some((r) => r.capacity !== null)) return { ...base, skipped: 'no length reached mean accuracy ≥ 0.99' };
  const models = modelOrder(table);
  const label = new Map(table.map((r) => [r.model, `${r.model} (d=${r.embed_dim})`]));
  const sources = sourceOrder(table);
  const values: Record<string, unknown>[] = [];
  for (const r of table) {
    if (r.capacity !== null) values.push({ model: label.get(r.model), series: r.source, value: r.capacity });
  }
  for (const m of models) {
    const r = table.find((t) => t.model === m)!;
    values.push({ model: label.get(m), series: THEORETICAL, value: round(theoreticalCapacity(r.embed_dim, r.embedding_rows) * r.n_mem, 1) });
  }
  const x = {
    field: 'model', type: 'ordinal', sort: models.map((m) => label.get(m)), title: 'Model (embedding width d)',
    axis: { labelAngle: 0, labelLimit: 220, labelOverlap: false, labelExpr: MODEL_LABEL_EXPR },
  } as const;
  const capVals = values.map((v) => v.value as number);
    const color = {
    field: 'series', type: 'nominal', title: null,
    scale: { domain: [...sources, THEORETICAL], range: [...sources.map((_, i) => palette[i % palette.length]), '#999999'] },
  } as const;
  const spec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    width: { step: 120 }, height: PANEL_H + 60,
    layer: [
      {
        transform: [{ filter: `datum.series !== '${THEORETICAL}'` }],
        mark: { type: 'line', point: { filled: true, size: 60 }, strokeWidth: 1.8 },
        encoding: {
          x, color,
          y: {
            field: 'value', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'Tokens (log scale)',
            axis: { format: '~g', values: log2Ticks(Math.min(...capVals), Math.max(...capVals)) },
          },
        },
      },
      {
        transform: [{ filter: `datum.series === '${THEORETICAL}'` }],
        mark: { type: 'line', strokeDash: [5, 4], point: { size: 40 }, strokeWidth: 1.4 },
        encoding: { x, y: { field: 'value', type: 'quantitative' }, color },
      },
    ],
    config: CONFIG,
  } as unknown as TopLevelSpec;
  return { ...base, spec };
}

/** All report figures (a)–(e), in order; entries without a spec carry `skipped`. */
export function buildFigures(records: readonly SampleRecord[], curves: readonly CurveRecord[]): FigureEntry[] {
  return [
    accuracyVsLengthFigure(records),
    ceScatterFigure(records),
    vectorsScalingFigure(records),
    utilizationFigure(records),
    curvesFigure(curves, records),
  ];
}

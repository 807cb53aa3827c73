/**
 * What every figure module shares: the FigureEntry a figure returns, the Figure a kind lists, the Vega-Lite theme,
 * orderings, axis helpers and the facetSpec / layeredSpec envelopes. The figure modules themselves live with the kind
 * that draws them (src/experiments/kinds/<kind>/figures/), each typed by its own rows.
 */
import type { Config, TopLevelSpec } from 'vega-lite';
import { FONT_FAMILY } from '../render.ts';

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

/** A figure: its file stem and how it is drawn from a kind's data. */
export interface Figure<D> {
  name: string;
  draw(data: D): FigureEntry;
}

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
export const PANEL_W = 260;
export const PANEL_H = 200;
export const THEORETICAL = 'Theoretical (Eq. 1)';
/** Vega-Lite's default categorical colours (tableau10), for scales whose range we set ourselves. */
export const palette = [
  '#4c78a8',
  '#f58518',
  '#e45756',
  '#72b7b2',
  '#54a24b',
  '#eeca3b',
  '#b279a2',
  '#ff9da6',
  '#9d755d',
  '#bab0ac',
];

export const CONFIG = {
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
export function smallestK<T extends { model: string; n_mem: number }>(rows: readonly T[]): T[] {
  const minK = new Map<string, number>();
  for (const r of rows) minK.set(r.model, Math.min(minK.get(r.model) ?? Infinity, r.n_mem));
  return rows.filter((r) => r.n_mem === minK.get(r.model));
}

/** Facet panel label: the model, plus K when several K are present. */
export function panelLabeler(records: readonly { n_mem: number }[]): (model: string, k: number) => string {
  const several = new Set(records.map((r) => r.n_mem)).size > 1;
  return (model, k) => (several ? `${model}, K = ${k}` : model);
}

export const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

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
export const MODEL_LABEL_EXPR = "split(replace(datum.label, ' (', '|('), '|')";
export const round = (v: number, digits = 4) => Number(v.toFixed(digits));

/** Vega-Lite's own types for the parts the helpers below assemble (the package exports only TopLevelSpec). */
type TopLevelFacet = Extract<TopLevelSpec, { facet: unknown }>;
type TopLevelLayer = Extract<TopLevelSpec, { layer: unknown }>;
/** The layers of a layered chart or of each facet panel. */
export type Layers = TopLevelLayer['layer'];
type Unit = Extract<Layers[number], { mark: unknown }>;
export type Mark = Unit['mark'];
export type Encoding = NonNullable<Unit['encoding']>;
/** An x or y channel, for axes shared by several layers. */
export type PositionDef = NonNullable<Encoding['x']>;
export type FacetField = TopLevelFacet['facet'];
/** One chart of an hconcat / vconcat. */
export type ConcatPart = Extract<TopLevelSpec, { hconcat: unknown }>['hconcat'][number];
export type Resolve = NonNullable<TopLevelFacet['resolve']>;

interface FacetEnvelope {
  title: string;
  values: Record<string, unknown>[];
  /** What splits the panels, e.g. { field: 'panel', type: 'nominal', title: null, sort: panels }. */
  facet: FacetField;
  /** Panels per row; omitted: one row. */
  columns?: number;
  resolve?: Resolve;
  /** Size of one panel. */
  width: number;
  height: number;
  /** The theme; default CONFIG. */
  config?: Config;
}

/** Each panel is `layer`, or one `mark` with its `encoding`. */
export type FacetOptions = FacetEnvelope & ({ layer: Layers } | { mark: Mark; encoding: Encoding });

/** A faceted chart of layered panels with the house theme: the envelope most figures share. */
export function facetSpec(o: FacetOptions): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: o.title,
    data: { values: o.values },
    facet: o.facet,
    ...(o.columns === undefined ? {} : { columns: o.columns }),
    ...(o.resolve === undefined ? {} : { resolve: o.resolve }),
    spec:
      'layer' in o
        ? { width: o.width, height: o.height, layer: o.layer }
        : { width: o.width, height: o.height, mark: o.mark, encoding: o.encoding },
    config: o.config ?? CONFIG,
  };
}

export interface LayeredOptions {
  title: string;
  values: Record<string, unknown>[];
  /** A number, or { step } for a discrete axis. */
  width: number | { step: number };
  height: number | { step: number };
  layer: Layers;
  /** The theme; default CONFIG. */
  config?: Config;
}

/** One layered chart with the house theme. */
export function layeredSpec(o: LayeredOptions): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: o.title,
    data: { values: o.values },
    width: o.width,
    height: o.height,
    layer: o.layer,
    config: o.config ?? CONFIG,
  };
}

export interface CurvePanelsOptions {
  title: string;
  /** One row per drawn step: `id` (one line each), the x field, `accuracy` and `loss` (null where undefined). */
  values: Record<string, unknown>[];
  x: PositionDef;
  color: Encoding['color'];
  dash: Encoding['strokeDash'];
  accuracyTitle: string;
  strokeWidth: number;
}

/** Per-step curves side by side: accuracy (0–1) and loss (log scale), one line per `id`. */
export function curvePanelsSpec(o: CurvePanelsOptions): TopLevelSpec {
  const panel = (field: 'accuracy' | 'loss', title: string, log: boolean): ConcatPart => ({
    width: PANEL_W + 40,
    height: PANEL_H + 20,
    transform: [{ filter: `datum.${field} !== null` }],
    mark: { type: 'line', strokeWidth: o.strokeWidth, opacity: 0.85 },
    encoding: {
      x: o.x,
      y: { field, type: 'quantitative', title, scale: log ? { type: 'log' } : { domain: [0, 1] } },
      color: o.color,
      strokeDash: o.dash,
      detail: { field: 'id' },
    },
  });
  return {
    $schema: SCHEMA,
    title: o.title,
    data: { values: o.values },
    hconcat: [panel('accuracy', o.accuracyTitle, false), panel('loss', 'Loss, nats/token (log scale)', true)],
    config: CONFIG,
  };
}

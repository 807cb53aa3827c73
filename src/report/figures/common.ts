/**
 * What every figure module shares: the FigureEntry a figure returns, the Vega-Lite theme, orderings and axis helpers.
 * One figure per file in this folder; index.ts lists them.
 */
import type { TopLevelSpec } from 'vega-lite';
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

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
export const PANEL_W = 260;
export const PANEL_H = 200;
export const THEORETICAL = 'Theoretical (Eq. 1)';
/** Vega-Lite's default categorical colours (tableau10), for scales whose range we set ourselves. */
export const palette = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

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

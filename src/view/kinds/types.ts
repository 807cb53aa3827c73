/**
 * What an experiment kind adds to `cram view`, the way it adds figures to its report: the record fields its run page
 * lists per text, the facts at the top of a text page, and where a text's per-step curve is kept. The figures and
 * tables themselves come from the kind's own `report` (the same Vega-Lite specs as report.html); a kind without a
 * view module here gets the default (every scalar field).
 */
import type { LineSchema } from '../harness.ts';

export type Row = Record<string, unknown>;

export interface CurveSeries {
  loss: number[];
  accuracy: number[];
}

export interface KindView {
  /** Record fields listed in the run page's table of texts, in order (each row opens its text page). */
  columns(records: readonly Row[]): string[];
  /** Label and value pairs at the top of a text page. */
  facts(record: Row): [string, string][];
  /**
   * How far greedy regeneration from the kept vectors came back: tokens after the first before the first miss (-1: not
   * checked), and whether the whole text did. Default: the record's regenerated_prefix_tokens / regenerated_exact.
   */
  regeneration?(record: Row): { prefix: number; exact: boolean } | null;
  /** The record's per-step loss/accuracy curve, where the run kept it. */
  curve?(record: Row, readJsonl: (file: string, schema: LineSchema) => Row[]): CurveSeries | null;
}

export const fmt = (v: unknown, digits = 3): string => {
  if (typeof v === 'number')
    return Number.isInteger(v) ? String(v) : Number.isFinite(v) ? v.toFixed(digits) : String(v);
  if (v === null || v === undefined) return '–';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
};

/** Fields that identify a text in most kinds (used for links, filters and curve look-ups). */
export const TEXT_FIELDS = ['model', 'source', 'n_mem', 'length', 'sample_index'] as const;

/** The curve line of curves-like files whose identifying fields equal the record's. */
export function matchingCurve(record: Row, lines: readonly Row[]): CurveSeries | null {
  const keys = TEXT_FIELDS.filter((k) => record[k] !== undefined);
  const c = lines.find((l) => keys.every((k) => l[k] === undefined || l[k] === record[k]) && Array.isArray(l.loss));
  return c ? { loss: c.loss as number[], accuracy: (c.accuracy as number[] | undefined) ?? [] } : null;
}

/** The capacity record's regeneration fields, when the record has them. */
export function recordRegeneration(r: Row): { prefix: number; exact: boolean } | null {
  return typeof r.regenerated_prefix_tokens === 'number'
    ? { prefix: r.regenerated_prefix_tokens, exact: r.regenerated_exact === true }
    : null;
}

/** Every scalar field: the view of a kind with no module of its own. */
export const defaultView: KindView = {
  columns(records) {
    const first = records[0] ?? {};
    const keys = Object.keys(first).filter((k) => k !== 'run' && (typeof first[k] !== 'object' || first[k] === null));
    return keys.slice(0, 12);
  },
  facts(record) {
    return Object.entries(record)
      .filter(([, v]) => typeof v !== 'object' || v === null)
      .map(([k, v]) => [k, fmt(v)]);
  },
};

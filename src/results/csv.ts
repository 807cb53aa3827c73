/** CSV as researchers expect it: a header row, true/false for booleans, empty cells for missing or non-finite numbers. */
import { stringify } from 'csv-stringify/sync';

/** Rows of objects → CSV with a header (keys of the first row, or `columns`). */
export function toCsv<T extends object>(rows: readonly T[], columns?: (keyof T & string)[]): string {
  const cols = columns ?? (rows.length ? (Object.keys(rows[0]!) as (keyof T & string)[]) : []);
  const cast = (v: unknown) =>
    v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? '' : v;
  return stringify(
    rows.map((r) => cols.map((c) => cast((r as Record<string, unknown>)[c]))),
    { header: true, columns: cols as string[], cast: { boolean: (b) => String(b) } },
  );
}

/** Numbers and names as the reports and JSON lines write them. */

/** Rounded to `digits` significant digits (keeps JSON lines and figure data small). */
export const sig = (v: number, digits = 6): number => (Number.isFinite(v) ? Number(v.toPrecision(digits)) : v);

/** Safe file-name part of a source name. */
export const fileSafe = (s: string) => s.replace(/[^\w.-]+/g, '_');

/** Fixed digits; '–' for a missing or non-finite value. */
export const fmt = (v: number | null | undefined, digits = 3): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);

/** "mean ± std" ("mean" alone when std is missing or not finite; '–' when mean is). */
export function formatMeanStd(mean: number | null, std: number | null, digits = 1): string {
  if (mean === null || !Number.isFinite(mean)) return '–';
  return std === null || !Number.isFinite(std)
    ? mean.toFixed(digits)
    : `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`;
}

/** A share as a percentage ("12.5 %"); '–' for a missing or non-finite value. */
export const pct = (v: number | null | undefined, digits = 1): string =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '–'
    : `${(100 * v).toFixed(digits).replace(/^-(0\.?0*)$/, '$1')} %`;

/**
 * One zod schema per JSONL record type gives its TypeScript type (`z.infer`), its CSV columns (the schema's keys, in
 * order) and its validation when read back. A line that is valid JSON but not a valid record (a field missing or of
 * the wrong type) is skipped and reported like a torn line, with the reason naming the field.
 */
import { z } from 'zod';

/** A schema of JSONL lines: one object type, or a union of object types (a file holding several kinds of line). */
export type LineSchema = z.ZodType<object>;

/**
 * A float field. JSON has no NaN or ±Infinity: JSON.stringify writes them as null, so null reads back as it was
 * written (the CSV shows it as an empty cell, as it shows NaN).
 */
export const float = () =>
  z.custom<number>((v) => typeof v === 'number' || v === null, { message: 'expected a number' });

/** A float field that may also be null on purpose (no value). */
export const floatOrNull = () =>
  z.custom<number | null>((v) => typeof v === 'number' || v === null, { message: 'expected a number or null' });

/** A field that holds one value (not an array or object): a column of results.csv. */
function isScalar(field: z.ZodType): boolean {
  let f: z.ZodType = field;
  while (f instanceof z.ZodOptional || f instanceof z.ZodNullable || f instanceof z.ZodDefault)
    f = f.unwrap() as z.ZodType;
  return !(f instanceof z.ZodArray || f instanceof z.ZodObject || f instanceof z.ZodTuple || f instanceof z.ZodRecord);
}

const scalarKeys = (o: z.ZodObject): string[] =>
  Object.entries(o.shape as Record<string, z.ZodType>)
    .filter(([, f]) => isScalar(f))
    .map(([k]) => k);

const UNION_COLUMNS = new WeakMap<z.ZodType, readonly string[]>();

/**
 * A file holding several line types (a union of objects): `row` lists every scalar field of any member, in the order
 * of results.csv's columns (a union has no one key order of its own). Checked here: the row's keys are exactly the
 * members' scalar keys.
 */
export function withColumns<S extends z.ZodUnion<readonly z.ZodObject[]>>(union: S, row: readonly string[]): S {
  const members = new Set((union.options as readonly z.ZodObject[]).flatMap(scalarKeys));
  const missing = [...members].filter((k) => !row.includes(k));
  const extra = row.filter((k) => !members.has(k));
  if (missing.length || extra.length || new Set(row).size !== row.length)
    throw new Error(
      `withColumns: the CSV row must list each scalar field of the members once (missing ${missing.join(', ') || '–'}; not a field ${extra.join(', ') || '–'})`,
    );
  UNION_COLUMNS.set(union, row);
  return union;
}

/**
 * The columns of results.csv for a record schema: an object's scalar fields in its key order (arrays and objects stay
 * in the JSONL); a union's row as withColumns gave it.
 */
export function columnsOf(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodObject) return scalarKeys(schema);
  const row = UNION_COLUMNS.get(schema);
  if (row) return [...row];
  throw new Error('columnsOf: a record schema is an object, or a union of objects given its columns by withColumns');
}

/**
 * The line as `schema` reads it, or why it is not a valid line ("best_accuracy: expected a number"). Fields the schema
 * does not name (written by a newer version, or added to every record by the harness, such as `precision`) are kept
 * as they were written: validation checks a line, it does not drop what the line holds.
 */
export function parseLine<S extends LineSchema>(
  schema: S,
  value: unknown,
): { ok: true; value: z.output<S> } | { ok: false; reason: string } {
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: { ...(value as object), ...r.data } as z.output<S> };
  return { ok: false, reason: describeIssues(r.error.issues, value) };
}

function describeIssues(issues: readonly z.core.$ZodIssue[], value: unknown): string {
  const first = issues[0];
  if (!first) return 'not a valid record';
  if (first.code === 'invalid_union' && first.errors.length > 0) {
    // The member that got furthest (fewest issues) says best what is wrong.
    const best = [...first.errors].sort((a, b) => a.length - b.length)[0];
    return describeIssues(best, value);
  }
  let at: unknown = value;
  for (const k of first.path)
    at = at !== null && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[k] : undefined;
  const path = first.path.map(String).join('.');
  const what = at === undefined && path ? 'missing' : first.message.replace(/^Invalid input: /, '');
  return `${path || 'the record'}: ${what}`;
}

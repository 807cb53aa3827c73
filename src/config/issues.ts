/** One validation problem as one short line: where (field path or flag), the value as given, what is allowed. */
import type { z } from 'zod';

function valueAt(obj: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** A value for a message: numbers as written (NaN, Infinity), anything long cut short. */
export function showValue(v: unknown, max = 60): string {
  if (v === undefined) return '(missing)';
  if (typeof v === 'number') return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  s = s.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '·');
  return s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
}

/** `names` maps a top-level field to what the user typed (e.g. max_steps → --max-steps). */
export function describeIssue(raw: unknown, issue: z.core.$ZodIssue, names: Record<string, string> = {}): string {
  if (issue.code === 'invalid_union') {
    // An object that fails the object branch: say what is wrong with the object, not "none of the forms matched".
    const value = valueAt(raw, issue.path);
    const wrongForm = (i: z.core.$ZodIssue) =>
      i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value');
    const branch =
      value !== null && typeof value === 'object'
        ? issue.errors.find((e) => e.length > 0 && !wrongForm(e[0]))
        : undefined;
    if (branch)
      return describeIssue(raw, { ...branch[0], path: [...issue.path, ...branch[0].path] } as z.core.$ZodIssue, names);
  }
  const parts = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)));
  if (parts.length && names[parts.join('.')]) parts.splice(0, parts.length, names[parts.join('.')]);
  else if (parts.length && names[parts[0]]) parts[0] = names[parts[0]];
  const path = parts.length ? parts.join('.').replace(/\.\[/g, '[') : '(top level)';
  if (issue.code === 'unrecognized_keys')
    return `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')} at ${path}`;
  let allowed = issue.message;
  if (issue.code === 'invalid_union')
    allowed =
      'one of "gutenberg-heldout", "gutenberg-seen", "random-words", or {kind, path, column, name, keep_newlines, encoding}';
  return `${path} = ${showValue(valueAt(raw, issue.path))}: ${allowed}`;
}

/** Reads and validates a config file; an error names the field, the value and what is allowed, in one line. */
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigSchema, type ExperimentConfig } from './schema.ts';

export class ConfigError extends Error {}

function valueAt(obj: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') : '(top level)';
  const value = valueAt(raw, issue.path);
  let allowed = issue.message;
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')} at ${path}`;
  if (issue.code === 'invalid_union') allowed = 'one of "gutenberg-heldout", "gutenberg-seen", "random-words", or {kind, path, column, name}';
  return `${path} = ${value === undefined ? '(missing)' : JSON.stringify(value)}: ${allowed}`;
}

export function parseConfig(raw: unknown, where: string): ExperimentConfig {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(`${where}: ${describeIssue(raw, r.error.issues[0])}${r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : ''}`);
  return r.data;
}

export function loadConfig(path: string): ExperimentConfig {
  if (!existsSync(path)) throw new ConfigError(`config ${path} does not exist`);
  const text = readFileSync(path, 'utf8');
  let raw: unknown;
  try {
    raw = extname(path) === '.json' ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseConfig(raw, path);
}

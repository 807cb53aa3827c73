/**
 * Reads and validates a config file; an error names the file, the field, the value and what is allowed, in one line.
 * Nothing here loads the tensor engine (a test checks that), so `cram check` and the runner's preflight are cheap.
 * The config layer knows no experiment kind: the caller names the kinds a config may ask for and hands over the
 * chosen kind's option fields (src/experiments/kinds/index.ts does, in parseExperimentConfig / loadExperimentConfig).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { looksBinary } from '../files.ts';
import { describeIssue, showValue } from './issues.ts';
import { CommonConfigShape, type ExperimentConfig } from './schema.ts';

export class ConfigError extends Error {}

const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The kind a parsed config asks for (`experiment`, default capacity), checked against the names the caller knows.
 * Throws when the config is not a mapping or names no known kind.
 */
export function configKind(raw: unknown, where: string, kindNames: readonly string[]): string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    const what = Array.isArray(raw)
      ? 'a list'
      : raw === null || raw === undefined
        ? 'empty'
        : `the ${typeof raw} ${showValue(raw)}`;
    throw new ConfigError(`${where}: a config is a mapping of fields (name, models, sources, lengths, …), not ${what}`);
  }
  const name = (raw as { experiment?: unknown }).experiment ?? 'capacity';
  if (typeof name !== 'string' || !kindNames.includes(name)) {
    throw new ConfigError(
      `${where}: experiment = ${JSON.stringify(name)}: one of ${kindNames.map((k) => `"${k}"`).join(', ')}`,
    );
  }
  return name;
}

/**
 * Validates a parsed config (the common fields plus `kindOptions`, the option fields of the kind it names; see
 * configKind) and fills in the defaults.
 */
export function parseConfig(raw: unknown, where: string, kindOptions: z.ZodRawShape): ExperimentConfig {
  const schema = z.strictObject({ ...CommonConfigShape, ...kindOptions });
  const r = schema.safeParse(raw);
  if (!r.success)
    throw new ConfigError(
      `${where}: ${describeIssue(raw, r.error.issues[0])}${r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : ''}`,
    );
  return r.data as ExperimentConfig;
}

/** A config file's parsed YAML or JSON, not yet validated (parseConfig does that). */
export function readConfigFile(path: string): unknown {
  if (!existsSync(path)) throw new ConfigError(`config ${path} does not exist`);
  if (!statSync(path).isFile()) throw new ConfigError(`config ${path} is not a file`);
  if (statSync(path).size > MAX_CONFIG_BYTES)
    throw new ConfigError(`config ${path} is ${statSync(path).size} bytes; a config is a short YAML or JSON file`);
  const text = readFileSync(path, 'utf8');
  if (looksBinary(text))
    throw new ConfigError(`config ${path} is not a text file (binary data); give a YAML or JSON config`);
  let raw: unknown;
  const kind = extname(path) === '.json' ? 'JSON' : 'YAML';
  try {
    raw = kind === 'JSON' ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid ${kind}: ${(e as Error).message.split('\n')[0].slice(0, 200)}`);
  }
  return raw;
}

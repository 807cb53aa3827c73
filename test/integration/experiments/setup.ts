/**
 * Setup the experiments' integration tests share: the repository root, a scratch folder per test file, the lines of
 * a JSONL file, experiment configs with a file's defaults, the CLI with the tensor engine forbidden, and a run killed
 * with SIGKILL part-way.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { tmpFolder } from '../../scratch.ts';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const FORBID_ENGINE = fileURLToPath(new URL('../../fixtures/forbid-engine.mjs', import.meta.url));

/** The test file's scratch folder, removed when its tests end. */
export const workFolder = (name: string): string => tmpFolder(test, `cram-${name}-`);

/** The non-empty lines of a file; none while it does not exist. */
export const lines = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
    : [];

/** The records of a JSONL file, parsed; none while it does not exist. */
export const jsonLines = (file: string): any[] => lines(file).map((l) => JSON.parse(l));

/** Writes the experiment config <dir>/<name>.yaml: the name, output_dir <dir>/results, then `fields`; returns it. */
export function writeConfig(dir: string, name: string, fields: Record<string, unknown>): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, YAML.stringify({ name, output_dir: join(dir, 'results'), ...fields }));
  return file;
}

/** A writer of experiment configs in `dir` whose fields are the test file's `base`, then one call's. */
export const configWriter =
  (dir: string, base: Record<string, unknown>) =>
  (name: string, extra: Record<string, unknown> = {}): string =>
    writeConfig(dir, name, { ...base, ...extra });

const cli =
  (...hooks: string[]) =>
  (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', ...hooks, 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });
/** The CLI (src/cli/main.ts) in a child process from the repository root, run to its end. */
export const cram = cli();
/** The same with the tensor engine forbidden: loading it fails the process (test/fixtures/forbid-engine.mjs). */
export const cramNoEngine = cli('--import', FORBID_ENGINE);

/** `cram check <config> --json` without the tensor engine: it succeeds, and this is the plan it prints. */
export function checkWithoutEngine(config: string): { experiment: string; models: { model: string; items: number }[] } {
  const r = cramNoEngine('check', config, '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/**
 * Starts `cram experiment <config> --quiet` and kills it with SIGKILL once `file` has `count` lines (or after two
 * minutes, or when it ended first); returns how many lines the file has then.
 */
export async function killWhen(config: string, file: string, count: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'experiment', config, '--quiet'], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  const deadline = Date.now() + 120_000;
  while (lines(file).length < count && Date.now() < deadline && child.exitCode === null)
    await new Promise((r) => setTimeout(r, 25));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return lines(file).length;
}

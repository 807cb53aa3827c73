/**
 * What the bench scripts share: the options every model bench takes, comma lists, the machine line, and the JSON file
 * a run leaves in bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PROJECT_ROOT } from '../src/paths/index.ts';

/** Adds --backend, --json and --no-save (opts.save) after a script's own options. */
export function withCommonOptions(command: Command): Command {
  return command
    .option('--backend <name>', 'cpu | webgpu | cuda | auto', 'cpu')
    .option('--json', 'one JSON object per line instead of a table')
    .option('--no-save', 'do not write bench/results/');
}

/** A comma list of numbers ("1,4,16" → [1, 4, 16]). */
export const numberList = (list: unknown): number[] => String(list).split(',').map(Number);

/** The CPUs this ran on, e.g. "2x AMD EPYC 7B13". */
export const MACHINE = `${cpus().length}x ${cpus()[0]?.model?.trim() ?? 'cpu'}`;

/** Writes bench/results/<date>-<name>.json: the rows with the machine they came from; returns the file. */
export function saveResults(name: string, rows: unknown[]): string {
  const out = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const date = new Date().toISOString();
  const file = join(out, `${date.slice(0, 10)}-${name}.json`);
  const header = { date, machine: MACHINE, cpus: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30) };
  writeFileSync(file, JSON.stringify({ ...header, node: process.version, rows }, null, 1) + '\n');
  return file;
}

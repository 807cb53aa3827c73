/**
 * A results folder made by hand for the viewer's unit tests (no engine): a finished capacity run of the bundled
 * gutenberg-llama-xs over two held-out texts at lengths 4 and 8 (records from test/report/synthetic.ts, their ids
 * hashes the real ones so the text page can find the text again), and a second run still "running" (a live lock).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeModel, idsSha256, loadSourceTexts, loadTokenizer, sourceSpec } from '../../src/view/harness.ts';
import { syntheticCurves, syntheticRecords } from '../report/synthetic.ts';

const MODEL = { model: 'gutenberg-llama-xs', embed_dim: 64, embedding_rows: 8192, natsPerVector: 20 };

export function config(name: string, root: string): string {
  return [
    `name: ${name}`,
    'models: [gutenberg-llama-xs]',
    'sources: [gutenberg-heldout]',
    'lengths: [4, 8]',
    'n_mem: [1]',
    'samples: 2',
    'max_steps: 10',
    'curves: 1',
    `output_dir: ${JSON.stringify(root)}`,
    '',
  ].join('\n');
}

/** The first ids of the held-out texts as the run plans them. */
export function heldoutIds(): number[][] {
  const tok = loadTokenizer(describeModel('gutenberg-llama-xs'));
  return loadSourceTexts(sourceSpec('gutenberg-heldout'), tok, { count: 2, maxLength: 8 }).map((t) => t.ids);
}

export function seedResults(): { root: string; ids: number[][] } {
  const root = mkdtempSync(join(tmpdir(), 'cram-view-'));
  const ids = heldoutIds();
  const records = syntheticRecords({
    models: [MODEL],
    sources: ['gutenberg-heldout'],
    lengths: [4, 8],
    nMem: [1],
    samplesPerLength: 2,
    run: 'done',
  }).map((r) => ({ ...r, ids_sha256: idsSha256(ids[r.sample_index].slice(0, r.length)), vector_file: '' }));
  const at = (s: number) => new Date(Date.now() - s * 1000).toISOString();
  const write = (run: string, file: string, lines: object[]) =>
    writeFileSync(join(root, run, file), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  for (const run of ['done', 'going']) {
    mkdirSync(join(root, run));
    writeFileSync(join(root, run, 'config.yaml'), config(run, root));
  }
  write('done', 'samples.jsonl', records);
  write('done', 'curves.jsonl', syntheticCurves(records.filter((r) => r.sample_index === 0)));
  write('done', 'sessions.jsonl', [
    { session: 's1', event: 'start', at: at(100) },
    { session: 's1', event: 'end', at: at(40), seconds: 60, stopped: 'finished' },
  ]);
  // A run in progress: one record of four, a live lock held by this process, a heartbeat 10 s after the start.
  write(
    'going',
    'samples.jsonl',
    records.slice(0, 1).map((r) => ({ ...r, run: 'going' })),
  );
  write('going', 'sessions.jsonl', [
    { session: 's2', event: 'start', at: at(20) },
    { session: 's2', event: 'alive', at: at(10), records: 1 },
  ]);
  writeFileSync(
    join(root, 'going', '.lock'),
    JSON.stringify({ pid: process.pid, host: hostname(), started: at(20), alive: at(1), command: 'test' }),
  );
  mkdirSync(join(root, 'not-a-run'));
  return { root, ids };
}

/** The experiment runner: bad configs fail before any work, kill -9 then resume loses and repeats nothing, seeded runs repeat. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configWriter, cram, killWhen, lines, workFolder } from './setup.ts';
import { runExperiment } from '../../../src/run/harness.ts';
import type { SampleRecord } from '../../../src/results/sample-record.ts';
import { RunFolder } from '../../../src/results/run-folder.ts';
import { ready } from '../../helpers.ts';

const work = workFolder('runner');
const writeConfig = configWriter(work, {
  backend: 'cpu',
  models: ['gutenberg-llama-xs'],
  sources: ['gutenberg-heldout', 'random-words'],
  lengths: [4, 8],
  n_mem: [1],
  samples: 3,
  random_max_length: 8,
  max_steps: 40,
  patience: 20,
  curves: 1,
  batch: { max_texts: 2, max_tokens: 64 },
  seed: 3,
});
const keyOf = (r: SampleRecord) => `${r.source}|${r.length}|${r.n_mem}|${r.sample_index}`;
const withoutTiming = ({ seconds: _s, run: _r, vector_file: _v, ...rest }: SampleRecord) => rest;

test('a bad config fails before any work with a one-line error', () => {
  const bad = writeConfig('bad', { lengths: [8, 1] });
  const r = cram('experiment', bad);
  assert.equal(r.status, 1);
  assert.match(r.stderr.trim(), /^error: .*bad\.yaml: lengths\[1\] = 1: Too small: expected number to be >=2$/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.equal(existsSync(join(work, 'results', 'bad')), false, 'no results folder for a rejected config');
  const missingModel = writeConfig('nomodel', { models: ['no-such-model'] });
  const r2 = cram('experiment', missingModel);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /model "no-such-model" is neither a folder nor a bundled model/);
});

test('kill -9 mid-run, then the same command resumes: nothing lost, nothing repeated', async () => {
  const config = writeConfig('killed');
  const samples = join(work, 'results', 'killed', 'samples.jsonl');
  await killWhen(config, samples, 3);
  const before = lines(samples);
  assert.ok(before.length >= 3 && before.length < 9, `killed after ${before.length} of 9 texts`);

  await ready;
  const resumed = await runExperiment<SampleRecord>(config, { quiet: true });
  const after = lines(samples);
  const records = after.map((l) => JSON.parse(l) as SampleRecord);
  assert.equal(records.length, 9); // 2 lengths × 3 held-out texts + 3 random-word texts (each its own length)
  assert.equal(new Set(records.map(keyOf)).size, records.length, 'no text was run twice');
  assert.equal(resumed.ranNow, 9 - before.length, 'only the unfinished texts ran');
  assert.deepEqual(after.slice(0, before.length), before, 'finished lines are kept as they were');
  assert.equal(lines(join(work, 'results', 'killed', 'results.csv')).length, 10);
  assert.ok(existsSync(join(work, 'results', 'killed', 'report.md')));
  // The killed session is recorded too (start line, heartbeats), so the run's wall time includes it.
  const sessions = new RunFolder(join(work, 'results', 'killed')).sessions()!;
  assert.equal(sessions.sessions, 2);
  assert.equal(sessions.unfinished, 1);
  assert.match(
    readFileSync(join(work, 'results', 'killed', 'report.md'), 'utf8'),
    /2 sessions, 1 killed or still running/,
  );
  // Changing what decides the results is refused rather than mixed into the finished run.
  const changed = writeConfig('killed', { max_steps: 41 });
  await assert.rejects(
    runExperiment<SampleRecord>(changed, { quiet: true }),
    /holds a run, but it was made with a different max_steps/,
  );
});

test('a seeded run repeated gives identical texts and identical results', async () => {
  await ready;
  const a = await runExperiment<SampleRecord>(writeConfig('repeat-a', { sources: ['gutenberg-heldout'] }), {
    quiet: true,
  });
  const b = await runExperiment<SampleRecord>(writeConfig('repeat-b', { sources: ['gutenberg-heldout'] }), {
    quiet: true,
  });
  const sort = (rs: SampleRecord[]) => [...rs].sort((x, y) => keyOf(x).localeCompare(keyOf(y))).map(withoutTiming);
  assert.equal(a.records.length, 6);
  assert.deepEqual(sort(a.records), sort(b.records));
});

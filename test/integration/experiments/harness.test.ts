/**
 * The run harness against a careless or hostile user: everything is checked before the run
 * folder or config.yaml is written; texts shorter than a length are skipped there (and said so), never crammed and
 * credited; one writer per run folder (lock naming its holder, stale locks taken over); every session is recorded,
 * killed ones included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { configWriter, cram, ROOT, workFolder } from './setup.ts';
import { runExperiment } from '../../../src/run/harness.ts';
import { describeModel, loadTokenizer } from '../../../src/run/model-info.ts';
import { LOCK_FILE, RunLock } from '../../../src/run/run-lock.ts';
import { capacityTable } from '../../../src/metrics/aggregate.ts';
import { RunFolder } from '../../../src/results/run-folder.ts';
import type { SampleRecord } from '../../../src/results/sample-record.ts';
import { fixture, ready } from '../../helpers.ts';
import { syntheticRecords } from '../../report/synthetic.ts';

const work = workFolder('harness');
const results = join(work, 'results');
const writeConfig = configWriter(work, {
  backend: 'cpu',
  models: ['gutenberg-llama-xs'],
  sources: ['gutenberg-heldout'],
  lengths: [4, 8],
  samples: 2,
  max_steps: 3,
  patience: 3,
  curves: 0,
  regenerate: false,
  save_vectors: false,
  seed: 1,
});

/** A CSV source: one 3-word text (a few tokens) and one long text. */
const csv = join(work, 'texts.csv');
writeFileSync(
  csv,
  `text\n"Hello there."\n"${'The quick brown fox jumps over the lazy dog and runs away. '.repeat(4).trim()}"\n`,
);

test('a config that cannot work fails before the run folder exists, and the fixed config then runs', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { sources: [{ kind: 'file', path: csv, name: 'short' }], lengths: [4, 500] },
      /lengths: 500 is longer than every text of short \(the longest has \d+ tokens/,
    ],
    [
      { lengths: [8, 2048], n_mem: [1, 4] },
      /the longest of lengths = 2048 tokens with K = 4 vectors needs 2052 positions, but gutenberg-llama-xs takes 2048 \(.*config\.json \(max_position_embeddings\)\)/,
    ],
    [
      { sources: [{ kind: 'random-words' }], random_max_length: 2047, n_mem: [2] },
      /random_max_length = 2047 tokens with K = 2 vectors needs 2049 positions/,
    ],
    [{ sources: [{ kind: 'file', path: join(work, 'missing.csv') }] }, /cannot read text file .*missing\.csv/],
    [{ sources: [{ kind: 'file', path: fixture('heldout-passage.md'), name: 'md' }] }, /unknown file type "\.md"/],
    [
      { models: ['gutenberg-llama-xs', join(ROOT, 'models', 'gutenberg-llama-xs')] },
      /models: "gutenberg-llama-xs" and ".*" are both named "gutenberg-llama-xs"/,
    ],
  ];
  for (const [extra, pattern] of cases) {
    const file = writeConfig('checked', extra);
    await assert.rejects(
      runExperiment(file, { quiet: true }),
      (e: Error) => pattern.test(e.message) && e.message.startsWith(file),
    );
    assert.equal(existsSync(join(results, 'checked')), false, `no folder for ${JSON.stringify(extra)}`);
  }
  await ready;
  const r = await runExperiment<SampleRecord>(writeConfig('checked', { samples: 1, lengths: [4] }), { quiet: true });
  assert.equal(r.records.length, 1);
});

test('a text shorter than a length is skipped there, said in the log, skipped.jsonl and the report; capacity never exceeds it', async () => {
  await ready;
  const r = await runExperiment<SampleRecord>(
    writeConfig('short', { sources: [{ kind: 'file', path: csv, name: 'mixed' }], lengths: [2, 16] }),
    { quiet: true },
  );
  const got = r.records.map((x) => `${x.sample_index}@${x.length}:${x.n_tokens}`).sort();
  assert.deepEqual(got, ['0@2:2', '1@16:16', '1@2:2']);
  const shortTokens = loadTokenizer(describeModel('gutenberg-llama-xs')).encode('Hello there.').length;
  assert.ok(shortTokens < 16);
  const skipped = readFileSync(join(r.runDir, 'skipped.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(skipped, [
    { model: 'gutenberg-llama-xs', source: 'mixed', length: 16, sample_index: 0, n_tokens: shortTokens },
  ]);
  assert.match(
    readFileSync(join(r.runDir, 'report.md'), 'utf8'),
    /Texts shorter than a grid length are not samples at that length and were not crammed there: gutenberg-llama-xs \/ mixed at L = 16: 1 text \(#0, \d+ tokens\)/,
  );
  // Records from before this rule (a 5-token text crammed at L = 64 and 1024) are not credited beyond their tokens.
  const legacy = syntheticRecords({ lengths: [4], nMem: [1], samplesPerLength: 1 })
    .slice(0, 1)
    .map((x) => ({ ...x, best_accuracy: 1, n_tokens: 4 }));
  const stale = [64, 1024].map((length) => ({ ...legacy[0], length, n_tokens: 5, best_accuracy: 1 }));
  assert.equal(capacityTable([...legacy, ...stale])[0].capacity, 4);
});

test('one writer per run folder: a second run is refused naming the holder; a stale lock is taken over', async () => {
  const dir = join(work, 'locks');
  mkdirSync(dir, { recursive: true });
  const held = RunLock.acquire(dir, 'test holder');
  assert.throws(
    () => RunLock.acquire(dir, 'second'),
    new RegExp(`in use by process ${process.pid} on ${hostname()} \\(started .*: test holder\\)`),
  );
  held.release();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  // A dead process's lock (same host) and a lock whose host stopped its heartbeat long ago are stale.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const old = new Date(Date.now() - 3_600_000).toISOString();
  for (const stale of [
    { pid: Number(dead.stdout), host: hostname(), started: old, alive: old, command: 'killed run' },
    { pid: 1, host: 'elsewhere', started: old, alive: old, command: 'run on a lost node' },
  ]) {
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(stale));
    const notes: string[] = [];
    RunLock.acquire(dir, 'taker', (s) => notes.push(s)).release();
    assert.match(notes.join(), /took over a stale lock/);
  }
  const fresh = new Date().toISOString();
  writeFileSync(
    join(dir, LOCK_FILE),
    JSON.stringify({ pid: 1, host: 'elsewhere', started: fresh, alive: fresh, command: 'busy' }),
  );
  assert.throws(() => RunLock.acquire(dir, 'x'), /in use by process 1 on elsewhere/);

  // The harness takes the lock before writing anything into a run folder another process holds.
  const config = writeConfig('locked');
  const runDir = join(results, 'locked');
  mkdirSync(runDir, { recursive: true });
  const other = RunLock.acquire(runDir, 'cram experiment elsewhere.yaml');
  await assert.rejects(
    runExperiment(config, { quiet: true }),
    /locked is in use by process \d+ .*cram experiment elsewhere\.yaml/,
  );
  assert.equal(existsSync(join(runDir, 'config.yaml')), false);
  other.release();
});

test('two processes on one config: the second is refused while the first runs, and no record is made twice', async () => {
  // The first run is long (texts gutenberg-llama-xs cannot solve, many steps): it is still running when the second
  // starts, whatever the machine's speed; it is then stopped gracefully (Ctrl-C).
  const config = writeConfig('pair', { samples: 2, lengths: [48, 64], max_steps: 100000, patience: 100000 });
  const samples = join(results, 'pair', 'samples.jsonl');
  const first = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'experiment', config, '--quiet'], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  const exited = new Promise((r) => first.once('exit', r));
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(results, 'pair', LOCK_FILE)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  const second = cram('experiment', config, '--quiet');
  assert.equal(second.status, 1);
  assert.match(second.stderr, new RegExp(`in use by process ${first.pid} on `));
  first.kill('SIGINT');
  assert.equal(await exited, 130); // stopped gracefully after the current step (128 + SIGINT)
  const lines = existsSync(samples) ? readFileSync(samples, 'utf8').trim().split('\n').filter(Boolean) : [];
  const keys = lines.map((l) => {
    const x = JSON.parse(l);
    return `${x.length}|${x.sample_index}`;
  });
  assert.equal(new Set(keys).size, keys.length);
});

test('wall time counts every session: finished, interrupted, and killed ones up to their last heartbeat', () => {
  const run = new RunFolder(join(work, 'sessions')).create();
  const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const lines = [
    { started: t(0), seconds: 5, texts: 3, backend: 'cpu', interrupted: false }, // the older one-line format
    { session: 'a', event: 'start', at: t(10) },
    { session: 'a', event: 'alive', at: t(20) },
    { session: 'a', event: 'alive', at: t(40) }, // kill -9
    { session: 'b', event: 'start', at: t(50) },
    { session: 'b', event: 'end', at: t(57), seconds: 7, stopped: 'interrupted' },
  ];
  writeFileSync(run.path('sessions.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  assert.deepEqual(run.sessions(), { seconds: 5 + 30 + 7, sessions: 3, interrupted: 1, unfinished: 1 });
});

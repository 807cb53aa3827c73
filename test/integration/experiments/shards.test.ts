/**
 * One experiment as several shards, without a scheduler: where a shard's index comes from
 * (flag, SLURM array, indexed job) and what is refused; the cost-balanced split; two shards giving the records of
 * one process, one of them stopped and resumed (nothing lost, nothing repeated); the merged report and `cram status`;
 * the sbatch script. test/integration/experiments/slurm.test.ts does the same on a real SLURM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { cram, workFolder } from './setup.ts';
import { diffRecords, formatDiff, runRecords } from '../../../scripts/compare-records.ts';
import { runExperiment } from '../../../src/run/harness.ts';
import { writeRunReport } from '../../../src/run/run-report.ts';
import { RunLock } from '../../../src/run/run-lock.ts';
import {
  parseShardFlag,
  readShardsFile,
  resolveShard,
  shardRequest,
  splitPlan,
  type ShardRequest,
  type ShardsFile,
} from '../../../src/run/shards.ts';
import { sbatchScript } from '../../../src/run/slurm.ts';
import { formatStatus, runStatus } from '../../../src/run/status.ts';
import type { SampleRecord } from '../../../src/results/sample-record.ts';
import { ready } from '../../helpers.ts';

const work = workFolder('shards');

function writeConfig(file: string, extra: Record<string, unknown> = {}): string {
  const path = join(work, file);
  writeFileSync(
    path,
    YAML.stringify({
      name: 'split',
      backend: 'cpu',
      models: ['gutenberg-llama-xs'],
      sources: ['gutenberg-heldout'],
      lengths: [4, 8],
      n_mem: [1, 2],
      samples: 3,
      max_steps: 20,
      patience: 10,
      batch: { max_texts: 4, max_tokens: 4096 },
      curves: 1,
      seed: 4,
      ...extra,
    }),
  );
  return path;
}

const recorded = (count: number, extra: Partial<ShardsFile> = {}): ShardsFile => ({
  count,
  planned: 0,
  plan_sha256: '',
  cost_estimate: '',
  created: '2026-01-01T00:00:00Z',
  created_by: `--shard 0/${count}`,
  shards: Array.from({ length: count }, () => ({ items: 0, cost: 0, keys: [] })),
  ...extra,
});

test('where a shard comes from: --shard, a SLURM array (a task resubmitted alone keeps its shard), an indexed job; mismatches refused', () => {
  assert.deepEqual(parseShardFlag('2/3'), { index: 2, count: 3 });
  for (const bad of ['3/3', '1/0', 'a/2', '-1/2', '1']) assert.throws(() => parseShardFlag(bad), /--shard/);
  assert.equal(shardRequest(undefined, {}), null);
  const env = { SLURM_ARRAY_TASK_ID: '7', SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_COUNT: '3' };
  // The flag wins over the environment.
  assert.deepEqual(shardRequest('0/2', env), { from: 'flag', index: 0, count: 2 });
  const slurm = shardRequest(undefined, env)!;
  // First plan: index = id − min, count = the array's.
  assert.deepEqual(resolveShard(slurm, null, 'r'), {
    index: 2,
    count: 3,
    how: 'SLURM_ARRAY_TASK_ID=7 (array of 3 from 5) → shard 2/3',
    slurmArrayMin: 5,
  });
  // sbatch --array=7 later: SLURM_ARRAY_TASK_COUNT=1, _MIN=7; still shard 2 of 3, counted from the recorded start.
  const alone = shardRequest(undefined, {
    SLURM_ARRAY_TASK_ID: '7',
    SLURM_ARRAY_TASK_MIN: '7',
    SLURM_ARRAY_TASK_COUNT: '1',
  })!;
  const r = resolveShard(alone, recorded(3, { slurm_array_min: 5 }), 'r');
  assert.equal(r.index, 2);
  assert.equal(r.count, 3);
  assert.match(r.note!, /resubmitted alone: it takes shard 2 of the 3 planned/);
  // Arrays from `cram slurm` start at 0 and the split was planned by --shard: the task id is the shard.
  assert.equal(resolveShard({ from: 'slurm', taskId: 1, taskMin: 1, taskCount: 1 }, recorded(3), 'r').index, 1);
  const refusals: [ShardRequest, ShardsFile | null, RegExp][] = [
    [
      { from: 'flag', index: 0, count: 4 },
      recorded(3),
      /r was planned as 3 shards \(shards\.json, .*by --shard 0\/3\); this process asks for shard 0 of 4\. Run every task with 3 shards/,
    ],
    [
      { from: 'slurm', taskId: 0, taskMin: 0, taskCount: 5 },
      recorded(3),
      /planned as 3 shards.*but this array has 5 tasks/,
    ],
    [
      { from: 'slurm', taskId: 3, taskMin: 3, taskCount: 1 },
      recorded(3),
      /SLURM array task ids 0…2 are its shards, and 3 is not one/,
    ],
    [{ from: 'indexed-job', index: 1 }, null, /JOB_COMPLETION_INDEX=1 is set but no shard count is: pass --shards N/],
    [{ from: 'indexed-job', index: 4, count: 4 }, null, /JOB_COMPLETION_INDEX=4 is not a shard of 4/],
    [{ from: 'indexed-job', index: 1, count: 4 }, recorded(3), /planned as 3 shards.*this task was given 4/],
  ];
  for (const [req, rec, pattern] of refusals) assert.throws(() => resolveShard(req, rec, 'r'), pattern);
  assert.deepEqual(resolveShard({ from: 'indexed-job', index: 1 }, recorded(3), 'r'), {
    index: 1,
    count: 3,
    how: 'JOB_COMPLETION_INDEX=1 of 3',
  });
  assert.throws(
    () =>
      shardRequest(undefined, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_STEP: '2' }),
    /steps by 2/,
  );
  assert.throws(
    () => shardRequest(undefined, { JOB_COMPLETION_INDEX: 'x' }),
    /JOB_COMPLETION_INDEX=x is not a task index/,
  );
});

test('the split: every item once, the same whatever the input order, balanced by positions × steps, not in blocks', () => {
  // A capacity-like plan: lengths 4…64, K 1…8, 10 texts each.
  const items = [4, 8, 16, 32, 64].flatMap((L) =>
    [1, 2, 4, 8].flatMap((K) =>
      Array.from({ length: 10 }, (_, i) => ({ key: `m|s|L${L}|K${K}|i${i}`, positions: L + K })),
    ),
  );
  const split = splitPlan([{ name: 'm', items }], 3, 100);
  const keys = split.flatMap((s) => s.keys);
  assert.equal(keys.length, items.length);
  assert.equal(new Set(keys).size, items.length);
  const shuffled = [...items].reverse();
  assert.deepEqual(splitPlan([{ name: 'm', items: shuffled }], 3, 100), split);
  const costs = split.map((s) => s.cost);
  assert.ok(Math.max(...costs) - Math.min(...costs) <= 72 * 100, `costs ${costs} differ by more than the largest item`);
  // Every (L, K) group is dealt over the shards (no shard gets a block of long texts), and text i is not always on one shard.
  for (const L of [4, 64]) for (const s of split) assert.ok(s.keys.filter((k) => k.includes(`|L${L}|K8|`)).length >= 3);
  const shardOf = (k: string) => split.findIndex((s) => s.keys.includes(k));
  assert.ok(new Set([4, 8, 16, 32, 64].map((L) => shardOf(`m|s|L${L}|K1|i0`))).size > 1);
  // A kind's own cost estimate is used when given.
  const weighted = splitPlan(
    [
      {
        name: 'm',
        items: [
          { key: 'big', positions: 1, cost: 100 },
          { key: 'a', positions: 50 },
          { key: 'b', positions: 50 },
        ],
      },
    ],
    2,
    1,
  );
  assert.deepEqual(
    weighted.map((s) => s.keys),
    [['big'], ['a', 'b']],
  );
});

test(
  'two shards give the records of one process; a stopped shard resumes, losing and repeating nothing; the last writes the merged report',
  { timeout: 300_000 },
  async (t) => {
    await ready;
    const one = await runExperiment<SampleRecord>(writeConfig('one.yaml', { output_dir: join(work, 'one') }), {
      quiet: true,
    });
    const config = writeConfig('two.yaml', { output_dir: join(work, 'two') });
    const runDir = join(work, 'two', 'split');
    const flag = (i: number): ShardRequest => ({ from: 'flag', index: i, count: 2 });

    const first = await runExperiment<SampleRecord>(config, {
      quiet: true,
      signals: false,
      shard: flag(0),
      stopAfter: 1,
    });
    assert.equal(first.interrupted, true);
    const split = readShardsFile(runDir)!;
    const before = first.records.length; // texts finishing at the same step are all recorded
    assert.ok(before >= 1 && before < split.shards[0].keys.length, `${before} records`);
    assert.equal(split.count, 2);
    assert.equal(split.planned, one.records.length);
    let st = runStatus(runDir);
    assert.deepEqual(
      st.rows.map((r) => [r.shard, r.done, r.planned, r.state]),
      [
        [0, before, split.shards[0].keys.length, 'interrupted'],
        [1, 0, split.shards[1].keys.length, 'not started'],
      ],
    );
    assert.match(
      formatStatus(st, 'two/split'),
      /^two\/split: capacity, 2 shards; \d of 12 planned items done \(\d+ %\)\n  shard  done\/planned  last record +state\n  0 +\d\/\d+ +20\d\d-.* ago\) +interrupted, 1 session\n  1 +0\/\d+ +– +not started, 0 sessions\n$/,
    );
    // Nothing but shard 0's own folder and the run's shared files are written; no report before every shard is done.
    assert.equal(existsSync(join(runDir, 'samples.jsonl')), false);
    assert.equal(existsSync(join(runDir, 'report.md')), false);

    // A single process on the split folder, and a shard of another count, are refused.
    await assert.rejects(
      runExperiment(config, { quiet: true, signals: false }),
      /split into 2 shards \(shards\.json, shards\/\): run each with --shard i\/2/,
    );
    await assert.rejects(
      runExperiment(config, { quiet: true, signals: false, shard: { from: 'flag', index: 2, count: 3 } }),
      /was planned as 2 shards .*asks for shard 2 of 3/,
    );
    assert.equal(existsSync(join(runDir, 'shards', '2')), false);

    const resumed = await runExperiment<SampleRecord>(config, { quiet: true, signals: false, shard: flag(0) });
    assert.equal(resumed.complete, false);
    assert.equal(resumed.ranNow, split.shards[0].keys.length - before);
    const last = await runExperiment<SampleRecord>(config, { quiet: true, signals: false, shard: flag(1) });
    assert.equal(last.complete, true);
    for (const r of [resumed, last]) {
      const keys = r.records.map((x) => `${x.length}|${x.n_mem}|${x.sample_index}`);
      assert.equal(new Set(keys).size, keys.length, 'no record twice in a shard');
    }
    // Shard 0's two sessions: the stopped one and the one that finished.
    const sessions = readFileSync(join(runDir, 'shards', '0', 'sessions.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.event === 'end');
    assert.deepEqual(
      sessions.map((s) => s.stopped),
      ['interrupted', 'finished'],
    );

    const a = runRecords(join(work, 'one', 'split'));
    const b = runRecords(runDir);
    const d = diffRecords(a.records, b.records, a.key);
    for (const line of `one process vs 2 shards:\n${formatDiff(d, 'one', 'shards')}`.trimEnd().split('\n'))
      t.diagnostic(line);
    assert.deepEqual([d.onlyA, d.onlyB, d.duplicatesA, d.duplicatesB], [[], [], [], []]);
    // Batches differ (each shard batches its own items): a near-tie argmax may flip, nothing more.
    assert.ok(d.recordsDiffering <= 2, formatDiff(d));
    const csv = readFileSync(join(runDir, 'results.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 1 + one.records.length);
    const report = readFileSync(join(runDir, 'report.md'), 'utf8');
    assert.match(report, /Texts crammed: 12/);
    assert.match(report, /2 shards side by side .*3 sessions, 1 stopped by a signal/);
    assert.ok(
      readFileSync(join(runDir, 'shards', '0', 'curves.jsonl'), 'utf8').length > 0 ||
        readFileSync(join(runDir, 'shards', '1', 'curves.jsonl'), 'utf8').length > 0,
    );
    // cram compare reads a sharded run like any other.
    const { compareRuns } = await import('../../../src/run/compare.ts');
    const cmp = await compareRuns([runDir], join(work, 'compared'));
    assert.equal(cmp.duplicates, 0);
    assert.match(readFileSync(join(work, 'compared', 'report.md'), 'utf8'), /Texts crammed: 12/);
    st = runStatus(runDir);
    assert.equal(st.complete, true);
    assert.deepEqual(
      st.rows.map((r) => r.state),
      ['finished', 'finished'],
    );

    // A record that got into two shards' files (a bug, or files copied by hand) is merged once, and the report says so.
    const dup = readFileSync(join(runDir, 'shards', '0', 'samples.jsonl'), 'utf8').split('\n')[0];
    appendFileSync(join(runDir, 'shards', '1', 'samples.jsonl'), dup + '\n');
    const rewritten = await writeRunReport(runDir);
    assert.ok(rewritten);
    assert.equal(readFileSync(join(runDir, 'results.csv'), 'utf8').trim().split('\n').length, 1 + one.records.length);
    assert.match(
      readFileSync(join(runDir, 'report.md'), 'utf8'),
      /samples\.jsonl: 1 record with a key already recorded \(the same item run twice\) left out/,
    );
  },
);

test(
  'refused before any work: a plan that changed since the split, a shard while one process holds the run',
  { timeout: 120_000 },
  async () => {
    await ready;
    const out = join(work, 'refused');
    const config = writeConfig('refused.yaml', { output_dir: out, name: 'r' });
    const runDir = join(out, 'r');
    // An indexed job's index without a count: nothing is written.
    await assert.rejects(
      runExperiment(config, { quiet: true, signals: false, shard: { from: 'indexed-job', index: 0 } }),
      /JOB_COMPLETION_INDEX=0 is set but no shard count is/,
    );
    assert.equal(existsSync(runDir), false);
    await runExperiment(config, {
      quiet: true,
      signals: false,
      shard: { from: 'flag', index: 0, count: 2 },
      stopAfter: 0,
    });
    assert.ok(existsSync(join(runDir, 'shards.json')));
    // No record yet, so the changed config would be accepted; the split, made for the old plan, is not.
    writeConfig('refused.yaml', { output_dir: out, name: 'r', samples: 4 });
    await assert.rejects(
      runExperiment(config, { quiet: true, signals: false, shard: { from: 'flag', index: 1, count: 2 } }),
      /was split into 2 shards for a plan of 12 items, and this plan has 16 \(e\.g\. .*\|i3 is new\)/,
    );
    assert.equal(existsSync(join(runDir, 'shards', '1', 'sessions.jsonl')), false);
    writeConfig('refused.yaml', { output_dir: out, name: 'r' });
    mkdirSync(runDir, { recursive: true });
    const single = RunLock.acquire(runDir, 'cram experiment refused.yaml');
    await assert.rejects(
      runExperiment(config, { quiet: true, signals: false, shard: { from: 'flag', index: 1, count: 2 } }),
      /is being run as one process \(\d+ on .*cram experiment refused\.yaml\); stop it/,
    );
    single.release();
  },
);

test('a shard lock left by a process whose PID is now another process (a restarted container) is taken over once its heartbeat stopped', () => {
  const dir = join(work, 'reused-pid');
  mkdirSync(dir, { recursive: true });
  // Our own PID, taken an hour ago: this process started later, so the lock is another process's.
  const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
  const lockAlive = (alive: string) =>
    writeFileSync(
      join(dir, '.lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), started: hourAgo, alive, command: 'before the restart' }),
    );
  lockAlive(new Date().toISOString());
  // A fresh heartbeat: not judged yet (a clock stepped since boot must not make a live holder look new).
  assert.throws(() => RunLock.acquire(dir, 'x'), /in use by process/);
  lockAlive(hourAgo);
  const notes: string[] = [];
  RunLock.acquire(dir, 'after the restart', (n) => notes.push(n)).release();
  assert.match(notes.join(), /took over a stale lock .*started after the lock was taken .*the PID was reused/);
  // This process's own lock is still refused to it a second time.
  const held = RunLock.acquire(dir, 'held');
  assert.throws(() => RunLock.acquire(dir, 'again'), /in use by process/);
  held.release();
});

test('cram slurm writes an array script with one shard per task; a task count other than the recorded split is refused', () => {
  const text = sbatchScript({
    config: '/p/configs/x.yaml',
    runDir: '/r/x',
    projectRoot: '/p',
    node: '/usr/bin/node',
    script: '/r/x/slurm/x.sbatch',
    name: 'x',
    tasks: 4,
    partition: 'gpu',
    gpusPerTask: 1,
    cpusPerTask: 4,
    time: '12:00:00',
    extra: ['--constraint=a100'],
  });
  for (const line of [
    '#SBATCH --array=0-3',
    '#SBATCH --gpus-per-task=1',
    '#SBATCH --cpus-per-task=4',
    '#SBATCH --partition=gpu',
    '#SBATCH --time=12:00:00',
    '#SBATCH --constraint=a100',
    '#SBATCH --output=/r/x/slurm/%A_%a.out',
    'export CRAM_THREADS="${CRAM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"',
    `exec '/usr/bin/node' --import tsx src/cli/main.ts experiment '/p/configs/x.yaml' --shard "\${SLURM_ARRAY_TASK_ID}/4"`,
  ]) {
    assert.ok(text.split('\n').includes(line), `missing: ${line}\n${text}`);
  }
  const small = { config: '/c', runDir: '/r', projectRoot: '/p', node: 'node', script: '/s', name: 'x', tasks: 2 };
  assert.doesNotMatch(sbatchScript({ ...small, gpusPerTask: 0, cpusPerTask: 1 }), /gpus/);
  assert.throws(
    () => sbatchScript({ ...small, gpusPerTask: 1, cpusPerTask: 1, time: '1 hour' }),
    /--time 1 hour: give hh:mm:ss/,
  );

  // Through the CLI: the script lands in the run folder; --tasks other than the recorded split is refused.
  const config = writeConfig('cli.yaml', { output_dir: join(work, 'cli'), name: 'c' });
  const ok = cram('slurm', config, '--tasks', '3', '--gpus-per-task', '0', '--time', '00:10:00');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(
    ok.stdout,
    /slurm\/c\.sbatch: 3 array tasks for .*; items per shard 4 \/ 4 \/ 4, expected cost 33\.3 % \/ 33\.3 % \/ 33\.3 %\nsubmit with: sbatch /,
  );
  assert.ok(existsSync(join(work, 'cli', 'c', 'slurm', 'c.sbatch')));
  mkdirSync(join(work, 'cli', 'c'), { recursive: true });
  writeFileSync(join(work, 'cli', 'c', 'shards.json'), JSON.stringify(recorded(2)));
  const bad = cram('slurm', config, '--tasks', '3');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /was split into 2 shards when it was first run .*; use --tasks 2/);
});

/**
 * Scale-out on a real SLURM: `cram slurm --submit` runs a small seeded experiment as an array of 3
 * tasks; one task is cancelled mid-run (scancel) and resubmitted alone (sbatch --array=1); the merged records hold
 * every planned key exactly once, nothing the cancelled task had finished is lost or made again, and they match a
 * single-process run of the same config (outcomes equal up to near-tie flips between batch compositions; the count
 * is printed).
 *
 * Needs sbatch, squeue and scancel talking to a running slurmctld with a node that takes jobs: scripts/slurm-local.sh
 * sets one up (CI runs it). Without one the test is skipped, saying why, unless CRAM_REQUIRE_SLURM=1 (CI), where that
 * is a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { jsonLines, ROOT } from './setup.ts';
import { diffRecords, formatDiff, runRecords } from '../../../scripts/compare-records.ts';
import { RunLock } from '../../../src/run/run-lock.ts';
import { readShardsFile } from '../../../src/run/shards.ts';
import { runStatus } from '../../../src/run/status.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });

/** Why SLURM cannot be used here, or null when it can. */
function slurmMissing(): string | null {
  const v = sh('sbatch', ['--version']);
  if (v.error || v.status !== 0)
    return 'sbatch is not installed (bash scripts/slurm-local.sh installs and starts a one-node SLURM)';
  const ping = sh('scontrol', ['ping']);
  if (!/is UP/.test(ping.stdout ?? ''))
    return `slurmctld does not answer (scontrol ping: ${(ping.stdout || ping.stderr || '').trim() || 'nothing'}); bash scripts/slurm-local.sh starts it`;
  const nodes = sh('sinfo', ['-h', '-o', '%T']);
  if (!/^(idle|mixed|allocated)/m.test(nodes.stdout ?? ''))
    return `no SLURM node takes jobs (sinfo: ${(nodes.stdout || '').trim() || 'none'}); bash scripts/slurm-local.sh resumes the local one`;
  return null;
}

const key = (r: { model: string; source: string; length: number; n_mem: number; sample_index: number }) =>
  `${r.model}|${r.source}|L${r.length}|K${r.n_mem}|i${r.sample_index}`;

/** Tasks of a job still pending, running or completing ("1_0 RUNNING"). */
const active = (job: string) =>
  (sh('squeue', ['-h', '-r', '-j', job, '-o', '%i %T']).stdout ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.trim());

async function until(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what()}`);
    await sleep(100);
  }
}

test(
  'an array of 3 SLURM tasks gives the single-process records; a task cancelled mid-run and resubmitted loses and repeats nothing',
  { timeout: 600_000 },
  async (t) => {
    const missing = slurmMissing();
    if (missing) {
      if (process.env.CRAM_REQUIRE_SLURM === '1') assert.fail(`CRAM_REQUIRE_SLURM=1 but ${missing}`);
      t.skip(missing);
      return;
    }
    const work = mkdtempSync(join(tmpdir(), 'cram-slurm-'));
    const jobs: string[] = [];
    t.after(() => {
      for (const j of jobs) sh('scancel', [j]);
      rmSync(work, { recursive: true, force: true });
    });
    // Small and seeded: 18 texts, 200 steps at most, two texts per batch, so a task's records come over several seconds.
    const config = (name: string, out: string) => {
      const file = join(work, `${name}.yaml`);
      writeFileSync(
        file,
        YAML.stringify({
          name: 'array',
          output_dir: join(work, out),
          backend: 'cpu',
          models: ['gutenberg-llama-xs'],
          sources: ['gutenberg-heldout'],
          lengths: [4, 8, 16],
          n_mem: [1, 2],
          samples: 3,
          max_steps: 200,
          patience: 200,
          batch: { max_texts: 2, max_tokens: 4096 },
          curves: 1,
          seed: 5,
        }),
      );
      return file;
    };
    const env = { ...process.env, CRAM_THREADS: '1' };
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        env,
      });

    // The reference: one process, one thread (as each task has).
    const single = cli('experiment', config('single', 'single'), '--quiet');
    assert.equal(single.status, 0, single.stderr);

    const file = config('array', 'sharded');
    const runDir = join(work, 'sharded', 'array');
    const submitted = cli(
      'slurm',
      file,
      '--tasks',
      '3',
      '--gpus-per-task',
      '0',
      '--time',
      '00:20:00',
      '--submit',
      '--json',
    );
    assert.equal(submitted.status, 0, submitted.stderr);
    const { job, script } = JSON.parse(submitted.stdout) as { job: string; script: string };
    jobs.push(job);
    const what = () =>
      `job ${job} (squeue: ${active(job).join(', ') || 'nothing'}; status: ${existsSync(runDir) ? JSON.stringify(runStatus(runDir).rows.map((r) => [r.shard, r.done, r.planned, r.state])) : 'no run folder'})`;

    // Cancel task 1 once it has finished a record and before it has finished them all.
    const shard1 = join(runDir, 'shards', '1', 'samples.jsonl');
    await until(() => jsonLines(shard1).length > 0 || active(job).length === 0, 300_000, what);
    const planned1 = readShardsFile(runDir)!.shards[1].keys.length;
    assert.ok(
      jsonLines(shard1).length < planned1,
      `task 1 finished all ${planned1} of its items before it could be cancelled; make the test's experiment longer`,
    );
    const cancel = sh('scancel', [`${job}_1`]);
    assert.equal(cancel.status, 0, cancel.stderr);
    await until(() => active(job).length === 0, 300_000, what);
    const beforeResubmit = jsonLines(shard1).map(key);
    assert.ok(beforeResubmit.length < planned1, 'task 1 was cancelled before it finished');
    const ends = jsonLines(join(runDir, 'shards', '1', 'sessions.jsonl'))
      .filter((l) => l.event === 'end')
      .map((l) => l.stopped);
    t.diagnostic(
      `task 1 cancelled after ${beforeResubmit.length} of ${planned1} records; its session ended ${ends.join(', ') || 'without an end line (killed)'}`,
    );
    assert.equal(existsSync(join(runDir, 'report.md')), false, 'no report while a shard is missing');
    assert.deepEqual(
      runStatus(runDir).rows.map((r) => r.done === r.planned),
      [true, false, true],
    );

    // Resubmitted alone: SLURM_ARRAY_TASK_COUNT=1, and it is still shard 1 of 3.
    const again = sh('sbatch', ['--parsable', '--array=1', script]);
    assert.equal(again.status, 0, again.stderr);
    const job2 = again.stdout.trim().split(';')[0];
    jobs.push(job2);
    await until(
      () => active(job2).length === 0,
      300_000,
      () => `job ${job2} (squeue: ${active(job2).join(', ')})`,
    );
    const log = readdirSync(join(runDir, 'slurm'))
      .filter((f) => f.startsWith(`${job2}_1`))
      .map((f) => readFileSync(join(runDir, 'slurm', f), 'utf8'))
      .join('');
    assert.match(log, /shard 1\/3 of job/);
    assert.match(log, /shard 1 of 3 \(--shard 1\/3\): \d+ of 18 items/);

    // Nothing lost (every record task 1 had is still there), nothing repeated (each key once in its file and overall).
    const after = jsonLines(shard1).map(key);
    assert.deepEqual(after.slice(0, beforeResubmit.length), beforeResubmit);
    assert.equal(new Set(after).size, after.length);
    assert.equal(after.length, planned1);
    const st = runStatus(runDir);
    assert.equal(st.complete, true, JSON.stringify(st.rows));
    assert.ok(existsSync(join(runDir, 'report.md')), 'the last shard to finish wrote the report');
    assert.equal(readFileSync(join(runDir, 'results.csv'), 'utf8').trim().split('\n').length, 1 + 18);

    const a = runRecords(join(work, 'single', 'array'));
    const b = runRecords(runDir);
    const d = diffRecords(a.records, b.records, a.key);
    for (const line of `one process vs the SLURM array:\n${formatDiff(d, 'one process', 'array')}`
      .trimEnd()
      .split('\n'))
      t.diagnostic(line);
    assert.deepEqual([d.keysA, d.keysB, d.onlyA, d.onlyB, d.duplicatesA, d.duplicatesB], [18, 18, [], [], [], []]);
    // Each task batches only its own texts: a near-tie argmax may flip in another batch composition, nothing more.
    assert.ok(d.recordsDiffering <= 3, formatDiff(d));
  },
);

test('a shard lock left on another host by a SLURM job that squeue no longer lists is taken over at once', (t) => {
  const missing = slurmMissing();
  if (missing) {
    if (process.env.CRAM_REQUIRE_SLURM === '1') assert.fail(`CRAM_REQUIRE_SLURM=1 but ${missing}`);
    t.skip(missing);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'cram-slurm-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const now = new Date().toISOString();
  const lock = (job: string) =>
    writeFileSync(
      join(dir, '.lock'),
      JSON.stringify({ pid: 1, host: 'lost-node', started: now, alive: now, command: 'a task', slurm_job: job }),
    );
  // A job id SLURM never gave (squeue: invalid job id): the node went away with it.
  lock('999999999');
  const notes: string[] = [];
  RunLock.acquire(dir, 'resubmitted', (n) => notes.push(n)).release();
  assert.match(notes.join(), /took over a stale lock .*its SLURM job 999999999 is no longer running/);
  // A job that is running: the lock holds.
  const running = sh('sbatch', ['--parsable', '--wrap', 'sleep 30', '-o', '/dev/null']);
  assert.equal(running.status, 0, running.stderr);
  const job = running.stdout.trim();
  t.after(() => sh('scancel', [job]));
  lock(job);
  assert.throws(() => RunLock.acquire(dir, 'twin'), /in use by process 1 on lost-node/);
});

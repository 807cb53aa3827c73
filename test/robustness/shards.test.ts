/** Shard counts bounded at every entry point (issue 26, item 4); odd SLURM environments give clear messages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SHARDS, ShardError, parseShardFlag, resolveShard, shardRequest } from '../../src/run/shards.ts';

const slurm = (id: number, count: number, min = 0) => ({
  SLURM_ARRAY_TASK_ID: String(id),
  SLURM_ARRAY_TASK_COUNT: String(count),
  SLURM_ARRAY_TASK_MIN: String(min),
});

test('SLURM_ARRAY_TASK_COUNT above the cap is refused before a plan is made', () => {
  assert.throws(
    () => shardRequest(undefined, slurm(0, 100_000)),
    (e: Error) =>
      e instanceof ShardError && /SLURM_ARRAY_TASK_COUNT=100000 is above the 10000-shard cap/.test(e.message),
  );
  const ok = shardRequest(undefined, slurm(3, MAX_SHARDS));
  assert.equal(resolveShard(ok!, null, 'r').count, MAX_SHARDS);
});

test('a SLURM task id below the array minimum gives a clear message, not a TypeError', () => {
  for (const f of [
    () => shardRequest(undefined, slurm(2, 4, 5)),
    () => resolveShard({ from: 'slurm', taskId: 2, taskMin: 5, taskCount: 4 }, null, 'r'),
  ]) {
    assert.throws(
      f,
      (e: Error) => e instanceof ShardError && /SLURM_ARRAY_TASK_ID=2 .*below the array's first id/.test(e.message),
    );
  }
});

test('--shard, --shards and JOB_COMPLETION_INDEX are bounded too', () => {
  assert.throws(() => parseShardFlag('0/100000'), /the shard count must be 1…10000/);
  assert.throws(() => shardRequest(undefined, {}, 100_000), /the shard count must be an integer 1…10000/);
  assert.throws(
    () => shardRequest(undefined, { JOB_COMPLETION_INDEX: '20000' }),
    /JOB_COMPLETION_INDEX=20000 is above the 10000-shard cap/,
  );
});

/**
 * The shared continuous-batching loop and the best-so-far rules, with a scripted method (no model, no tensors): which
 * rows each pass holds (lanes by K, admission by texts and by tokens, the second lane at low water, chunks), what
 * finishing, progress and stopping do, and which vectors are kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkRows, runBatched, type LoopProgress, type Method } from '../../src/cram/batch-loop.ts';
import { BestSoFar } from '../../src/cram/best.ts';
import type { CompiledModel } from '../../src/cram/compiled-model.ts';

interface Job {
  key: string;
  K: number;
  n: number;
  steps: number;
  texts?: number;
}
interface Row {
  job: Job;
  done: number;
  grow: number;
}

/** A method whose rows finish after `job.steps` steps; every pass is logged as `K:key,key…`. */
function scripted(passes: string[], opts: { grow?: boolean; texts?: boolean } = {}): Method<Job, Row, string> {
  return {
    lane: (j) => j.K,
    texts: opts.texts ? (j) => j.texts ?? 1 : undefined,
    positions: (j) => j.K + j.n,
    chunkPositions: opts.grow ? (r) => r.job.K + r.grow : undefined,
    start: async (_m, _K, jobs) => jobs.map((job) => ({ job, done: 0, grow: 2 })),
    async step(_m, K, rows) {
      passes.push(`${K}:${rows.map((r) => r.job.key).join(',')}`);
      for (const r of rows) {
        r.done++;
        r.grow++;
      }
    },
    finished: (r) => r.done >= r.job.steps,
    outcomes: (_m, _K, r) => Array.from({ length: r.job.texts ?? 1 }, (_, i) => `${r.job.key}#${i}@${r.done}`),
  };
}

const model = {} as CompiledModel;
const job = (key: string, K: number, n: number, steps: number, texts?: number): Job => ({ key, K, n, steps, texts });

test('admission by texts and tokens; finished rows make room for queued ones; outcomes in order', async () => {
  const passes: string[] = [];
  const out: string[] = [];
  // K = 1, texts of 4 tokens: 5 positions a row; a budget of 10 positions takes two such rows, not three.
  const jobs = [job('a', 1, 4, 1), job('b', 1, 4, 2), job('c', 1, 4, 1), job('d', 1, 20, 1)];
  await runBatched(
    model,
    jobs,
    scripted(passes),
    { maxBatch: 3, maxBatchTokens: 10 },
    {
      onFinish: (o) => {
        out.push(o);
      },
    },
  );
  // d (21 positions) exceeds the budget alone: it runs by itself once the lane is empty.
  assert.deepEqual(passes, ['1:a,b', '1:b,c', '1:d']);
  assert.deepEqual(out, ['a#0@1', 'b#0@2', 'c#0@1', 'd#0@1']);
});

test('a second lane opens at low water and steps alternately with the first', async () => {
  const passes: string[] = [];
  // maxBatch 4: low water is 1 text; lane K=1 runs x (3 steps) and y (1 step); once only x is left, K=2 opens.
  const jobs = [job('x', 1, 3, 3), job('y', 1, 3, 1), job('p', 2, 3, 2), job('q', 2, 3, 1)];
  await runBatched(model, jobs, scripted(passes), { maxBatch: 4, maxBatchTokens: 1000 });
  assert.deepEqual(passes, ['1:x,y', '1:x', '2:p,q', '1:x', '2:p']);
});

test('growing rows are admitted by texts only and stepped in chunks within the token budget', async () => {
  const passes: string[] = [];
  const jobs = [job('a', 1, 50, 3), job('b', 1, 50, 3), job('c', 1, 50, 3)];
  // Positions per row: 1 + grow (3, then 4, then 5); budget 9: three rows of 3, then two of 4, then one of 5.
  await runBatched(model, jobs, scripted(passes, { grow: true }), { maxBatch: 8, maxBatchTokens: 9 });
  assert.deepEqual(passes, ['1:a,b,c', '1:a,b', '1:c', '1:a', '1:b', '1:c']);
  assert.deepEqual(
    chunkRows([5, 1, 1, 9, 2], (x) => x, 10),
    [[5, 1], [1], [9], [2]],
  );
});

test('a job of several texts (a shared-m group) is admitted whole, in queue order; progress counts texts', async () => {
  const passes: string[] = [];
  const progress: LoopProgress[] = [];
  // maxBatch 3: g1 (2 texts) and solo fit, g2 (2 texts) waits until g1 has left, and nothing overtakes it.
  const jobs = [job('g1', 1, 3, 2, 2), job('solo', 1, 3, 1), job('g2', 1, 3, 1, 2), job('late', 1, 3, 1)];
  const out: string[] = [];
  await runBatched(
    model,
    jobs,
    scripted(passes, { texts: true }),
    { maxBatch: 3, maxBatchTokens: 100 },
    {
      onFinish: (o) => {
        out.push(o);
      },
      onStep: (p) => progress.push(p),
    },
  );
  assert.deepEqual(passes, ['1:g1,solo', '1:g1', '1:g2,late']);
  assert.deepEqual(out, ['solo#0@1', 'g1#0@2', 'g1#1@2', 'g2#0@1', 'g2#1@1', 'late#0@1']);
  const counts = progress.map((p) => [p.active, p.queued, p.finished, p.total]);
  assert.deepEqual(counts, [
    [2, 3, 1, 6],
    [0, 3, 3, 6],
    [0, 0, 6, 6],
  ]);
});

test('shouldStop is checked before every lane step; unfinished jobs give nothing', async () => {
  const stopped: string[] = [];
  let checks = 0;
  await runBatched(
    model,
    [job('a', 1, 3, 5)],
    scripted(stopped),
    { maxBatch: 1, maxBatchTokens: 100 },
    {
      shouldStop: () => ++checks > 4,
      onFinish: () => assert.fail('nothing finishes'),
    },
  );
  assert.deepEqual(stopped, ['1:a', '1:a']);
});

test('best so far: the snapshot is taken at a strict improvement; patience, max steps, solved, diverged', () => {
  const best = new BestSoFar<string>();
  const limits = { maxSteps: 6, patience: 2 };
  assert.equal(
    best.observe(0.5, 1, () => 'v1'),
    true,
  );
  assert.equal(best.stop(limits, 1, false), null);
  assert.equal(
    best.observe(0.5, 2, () => 'v2'),
    false,
    'equal is not an improvement',
  );
  assert.equal(
    best.observe(0.75, 3, () => 'v3'),
    true,
  );
  assert.deepEqual([best.accuracy, best.step, best.kept, best.sinceImprove], [0.75, 3, 'v3', 0]);
  best.observe(0.25, 4, () => 'v4');
  assert.equal(best.stop(limits, 4, false), null);
  best.observe(0.5, 5, () => 'v5');
  assert.equal(best.stop(limits, 5, false), 'patience');
  assert.equal(best.stop({ maxSteps: 5, patience: 9 }, 5, false), 'max_steps');
  assert.equal(best.stop(limits, 5, false, true), 'diverged');
  const solved = new BestSoFar<string>();
  solved.observe(1, 1, () => 'v');
  assert.equal(solved.stop(limits, 1, true), 'solved');
  assert.equal(solved.stop({ maxSteps: 1, patience: 9 }, 1, true), 'solved', 'solved wins over the step limit');
});

test('admit: a job admitted mid-run joins its lane at the next step, finishes, the others unchanged', async () => {
  const run = async (withAdmit: boolean) => {
    const passes: string[] = [];
    const out: string[] = [];
    let asked = 0;
    await runBatched(
      model,
      [job('long', 1, 3, 6), job('other', 2, 3, 2)],
      scripted(passes),
      { maxBatch: 4, maxBatchTokens: 1000 },
      {
        onFinish: (o) => {
          out.push(o);
        },
        // Asked before every round of lane steps: after the second, a short job of the running lane's K arrives.
        admit: withAdmit ? () => (++asked === 3 ? [job('late', 1, 3, 2)] : []) : undefined,
      },
    );
    return { passes, out, asked };
  };
  const base = await run(false);
  const joined = await run(true);
  assert.deepEqual(base.passes, ['1:long', '1:long', '2:other', '1:long', '2:other', '1:long', '1:long', '1:long']);
  // Admitted before the third round of lane steps: `late` is in lane 1's very next pass, and done two steps later.
  assert.deepEqual(joined.passes, [
    '1:long',
    '1:long',
    '2:other',
    '1:long,late',
    '2:other',
    '1:long,late',
    '1:long',
    '1:long',
  ]);
  assert.ok(joined.out.indexOf('late#0@2') < joined.out.indexOf('long#0@6'), 'the short job is done first');
  assert.deepEqual(
    joined.out.filter((o) => !o.startsWith('late')),
    base.out,
    'the others finish with the same outcomes',
  );
  assert.ok(joined.asked > 3, 'admit is asked again after the late job');
});

test('admit: a job of a new K opens a lane; the run waits for admitted jobs before it ends', async () => {
  const passes: string[] = [];
  const out: string[] = [];
  let given = false;
  await runBatched(
    model,
    [job('a', 1, 3, 1)],
    scripted(passes),
    { maxBatch: 4, maxBatchTokens: 1000 },
    {
      onFinish: (o) => {
        out.push(o);
      },
      // Only once the first job is done (the loop would end): a follow-up job with another K.
      admit: () => {
        if (out.length === 1 && !given) {
          given = true;
          return [job('b', 3, 3, 2)];
        }
        return [];
      },
    },
  );
  assert.deepEqual(passes, ['1:a', '3:b', '3:b']);
  assert.deepEqual(out, ['a#0@1', 'b#0@2']);
});

test('maxLanes: texts of different K all step in turn instead of two lanes at a time', async () => {
  const jobs = () => [job('a', 1, 3, 2), job('b', 2, 3, 2), job('c', 3, 3, 2)];
  const two: string[] = [];
  await runBatched(model, jobs(), scripted(two), { maxBatch: 32, maxBatchTokens: 1000 });
  assert.deepEqual(two, ['1:a', '1:a', '2:b', '2:b', '3:c', '3:c']);
  const all: string[] = [];
  await runBatched(model, jobs(), scripted(all), { maxBatch: 32, maxBatchTokens: 1000, maxLanes: Infinity });
  assert.deepEqual(all, ['1:a', '2:b', '3:c', '1:a', '2:b', '3:c']);
});

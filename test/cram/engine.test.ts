/** The batched engine: batched = alone, padding invariance, best vectors kept pre-update, stop rules, two lanes (memory over a long
 * run: test/integration/cram/memory.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import {
  cramAll,
  cramOne,
  PAPER_SETTINGS,
  type CramJob,
  type CramOutcome,
  type CramSettings,
} from '../../src/cram/cram.ts';
import { bundled, compiled, relL2 } from '../helpers.ts';

const engine = compiled(bundled('gutenberg-llama-xs'));
const rng = seedrandom('engine-test');
const text = (n: number) => [0, ...Array.from({ length: n - 1 }, () => 2 + Math.floor(rng() * 8000))];
const JOBS: CramJob[] = [6, 9, 12, 16].map((n, i) => ({ key: `t${i}`, ids: text(n), nMem: 2 }));
const SETTINGS: CramSettings = { ...PAPER_SETTINGS, maxSteps: 25, patience: 1000, recordTrajectory: true };

async function runAll(jobs: CramJob[], settings: CramSettings): Promise<Map<string, CramOutcome>> {
  const out = new Map<string, CramOutcome>();
  await cramAll(await engine, jobs, settings, {
    onFinish: (o) => {
      out.set(o.key, o);
    },
  });
  return out;
}

function assertSameTrajectory(a: CramOutcome, b: CramOutcome, what: string) {
  assert.equal(a.steps, b.steps, `${what}: steps`);
  const la = a.trajectory!.loss;
  const lb = b.trajectory!.loss;
  for (let i = 0; i < la.length; i++)
    assert.ok(
      Math.abs(la[i] - lb[i]) <= 1e-4 * Math.abs(lb[i]),
      `${what}: loss at step ${i + 1}: ${la[i]} vs ${lb[i]}`,
    );
  const accDiff = a.trajectory!.accuracy.filter((x, i) => x !== b.trajectory!.accuracy[i]).length;
  assert.ok(accDiff <= 1, `${what}: accuracy differs at ${accDiff} steps`); // a near-tie argmax may flip once
  assert.ok(relL2(a.memory, b.memory) < 1e-3, `${what}: final vectors differ by ${relL2(a.memory, b.memory)}`);
}

test('4 texts of different lengths: batched, and refilled two at a time, follow the trajectories they have alone', async () => {
  const alone = new Map<string, CramOutcome>();
  for (const j of JOBS) for (const [k, v] of await runAll([j], SETTINGS)) alone.set(k, v);
  const batched = await runAll(JOBS, { ...SETTINGS, maxBatch: 4 });
  const refilled = await runAll(JOBS, { ...SETTINGS, maxBatch: 2 });
  for (const j of JOBS) {
    assertSameTrajectory(batched.get(j.key)!, alone.get(j.key)!, `${j.key} batched`);
    assertSameTrajectory(refilled.get(j.key)!, alone.get(j.key)!, `${j.key} refilled`);
  }
});

test('two K groups stepping side by side (the second admitted while the first runs low) follow their own trajectories', async () => {
  const jobs: CramJob[] = [...JOBS, ...JOBS.map((j) => ({ ...j, key: `${j.key}-k1`, nMem: 1 }))];
  const alone = new Map<string, CramOutcome>();
  for (const j of jobs) for (const [k, v] of await runAll([j], SETTINGS)) alone.set(k, v);
  // maxBatch 4: the K=1 group opens once the K=2 group has no queue and ≤ 1 text left (low water = 4/4).
  const mixed = await runAll([...JOBS.slice(0, 1), ...jobs.slice(4)], { ...SETTINGS, maxBatch: 4 });
  for (const [k, o] of mixed) assertSameTrajectory(o, alone.get(k)!, `${k} in two lanes`);
});

test("padding changes neither a text's loss nor its gradient", async () => {
  const e = await engine;
  const d = e.embedDim;
  const short = JOBS[0].ids;
  const long = JOBS[3].ids;
  const mem = Float32Array.from({ length: 2 * 2 * d }, () => (rng() - 0.5) * 0.2);
  const batch = await e.objective(2, mem, [short, long], true);
  const alone = await e.objective(2, mem.slice(0, 2 * d), [short], true);
  assert.ok(
    Math.abs(batch.loss[0] - alone.loss[0]) < 1e-5 * Math.abs(alone.loss[0]),
    `${batch.loss[0]} vs ${alone.loss[0]}`,
  );
  assert.equal(batch.correct[0], alone.correct[0]);
  assert.ok(relL2(batch.grad!.slice(0, 2 * d), alone.grad!) < 1e-4);
  // Per-token cross-entropies: zero on the short text's padding, equal to its own elsewhere.
  const P = long.length - 1;
  for (let i = 0; i < P; i++) {
    const v = batch.tokenCe[i];
    if (i >= short.length - 1) assert.equal(v, 0);
    else assert.ok(Math.abs(v - alone.tokenCe[i]) < 1e-4 * Math.max(1, Math.abs(v)));
  }
  const mean = Array.from(alone.tokenCe).reduce((a, b) => a + b, 0) / (short.length - 1);
  assert.ok(Math.abs(mean - alone.loss[0]) < 1e-5 * alone.loss[0]);
});

test('kept vectors are the ones the best accuracy was measured with (not one update later)', async () => {
  const o = (await runAll([JOBS[2]], { ...SETTINGS, maxSteps: 40 })).get('t2')!;
  const [re] = await (await engine).evaluate(2, o.memory, [JOBS[2].ids]);
  assert.equal(re.accuracy, o.bestAccuracy);
  assert.ok(
    Math.abs(re.loss - o.lossAtBestAccuracy) < 1e-5 * Math.abs(o.lossAtBestAccuracy),
    `${re.loss} vs ${o.lossAtBestAccuracy}`,
  );
  assert.equal(o.trajectory!.accuracy[o.bestStep - 1], o.bestAccuracy);
  assert.equal(o.bestLoss, Math.min(...o.trajectory!.loss));
});

test('stop rules: patience counts steps without strict improvement; max steps; solved; a non-finite loss is "diverged"', async () => {
  const e = await engine;
  const p = await cramOne(
    e,
    { key: 'pat', ids: text(40), nMem: 1 },
    { ...SETTINGS, maxSteps: 500, patience: 5, optimizer: { ...PAPER_SETTINGS.optimizer, lr: 1e-6 } },
  );
  assert.equal(p.stopReason, 'patience');
  // Patience counts from the first step at the best accuracy (the kept step may be a later, lower-loss tie).
  assert.equal(p.steps, p.trajectory!.accuracy.indexOf(p.bestAccuracy) + 1 + 5);
  const m = await cramOne(e, { key: 'max', ids: text(40), nMem: 1 }, { ...SETTINGS, maxSteps: 7 });
  assert.equal(m.stopReason, 'max_steps');
  assert.equal(m.steps, 7);
  const s = await cramOne(e, { key: 'easy', ids: text(3), nMem: 4 }, { ...SETTINGS, maxSteps: 300 });
  assert.equal(s.stopReason, 'solved');
  assert.equal(s.bestAccuracy, 1);
  assert.equal(s.steps, s.bestStep);
  const big = await cramOne(
    e,
    { key: 'nan', ids: text(12), nMem: 1, init: new Float32Array(e.embedDim).fill(3e38) },
    { ...SETTINGS, maxSteps: 50 },
  );
  assert.equal(big.stopReason, 'diverged');
  assert.ok(big.steps < 50);
});

test('warm start and vector trajectories: init is used as given, snapshots every k steps', async () => {
  const e = await engine;
  const init = Float32Array.from({ length: 2 * e.embedDim }, () => (rng() - 0.5) * 0.1);
  const o = await cramOne(
    e,
    { key: 'warm', ids: JOBS[1].ids, nMem: 2, init, vectorsEvery: 5 },
    { ...SETTINGS, maxSteps: 12 },
  );
  assert.deepEqual(o.vectorTrajectory!.steps, [0, 5, 10]);
  assert.deepEqual(Array.from(o.vectorTrajectory!.vectors[0]), Array.from(init));
  const again = await cramOne(
    e,
    { key: 'other-key', ids: JOBS[1].ids, nMem: 2, init, vectorsEvery: 5 },
    { ...SETTINGS, maxSteps: 12 },
  );
  assert.deepEqual(Array.from(again.memory), Array.from(o.memory)); // the seed does not matter when init is given
});

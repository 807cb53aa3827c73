/** The batched engine: batched = alone, padding invariance, best vectors kept pre-update, stop rules, no leaks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { loadModel } from '../../src/models/load.ts';
import { cramAll, cramOne, PAPER_SETTINGS, type CramJob, type CramOutcome, type CramSettings } from '../../src/cram/engine.ts';
import { memObjective, memObjectiveAndGrad, padIds } from '../../src/cram/objective.ts';
import { bundled, ready, relL2 } from '../helpers.ts';

const loaded = ready.then(() => loadModel(bundled('gutenberg-llama-xs'), { tokenizer: false }));
const rng = seedrandom('engine-test');
const text = (n: number) => [0, ...Array.from({ length: n - 1 }, () => 2 + Math.floor(rng() * 8000))];
const JOBS: CramJob[] = [6, 9, 12, 16].map((n, i) => ({ key: `t${i}`, ids: text(n), nMem: 2 }));
const SETTINGS: CramSettings = { ...PAPER_SETTINGS, maxSteps: 25, patience: 1000, recordTrajectory: true };

async function runAll(jobs: CramJob[], settings: CramSettings): Promise<Map<string, CramOutcome>> {
  const { model } = await loaded;
  const out = new Map<string, CramOutcome>();
  await cramAll(model, jobs, settings, { onFinish: (o) => { out.set(o.key, o); } });
  return out;
}

function assertSameTrajectory(a: CramOutcome, b: CramOutcome, what: string) {
  assert.equal(a.steps, b.steps, `${what}: steps`);
  const la = a.trajectory!.loss;
  const lb = b.trajectory!.loss;
  for (let i = 0; i < la.length; i++) assert.ok(Math.abs(la[i] - lb[i]) <= 1e-4 * Math.abs(lb[i]), `${what}: loss at step ${i + 1}: ${la[i]} vs ${lb[i]}`);
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

test('padding changes neither a text\'s loss nor its gradient', async () => {
  const { model } = await loaded;
  const short = JOBS[0].ids;
  const long = JOBS[3].ids;
  tf.tidy(() => {
    const mem = tf.randomNormal([2, 2, model.embedDim], 0, 0.1, 'float32', 7) as tf.Tensor3D;
    const batch = memObjectiveAndGrad(model, mem, padIds([short, long]), [short.length, long.length]);
    const alone = memObjectiveAndGrad(model, tf.slice(mem, [0, 0, 0], [1, -1, -1]) as tf.Tensor3D, padIds([short]), [short.length]);
    assert.ok(Math.abs(batch.loss.dataSync()[0] - alone.loss.dataSync()[0]) < 1e-5);
    assert.equal(batch.correct.dataSync()[0], alone.correct.dataSync()[0]);
    assert.ok(relL2(tf.slice(batch.grad, [0, 0, 0], [1, -1, -1]).dataSync(), alone.grad.dataSync()) < 1e-4);
  });
});

test('kept vectors are the ones the best accuracy was measured with (not one update later)', async () => {
  const { model } = await loaded;
  const o = (await runAll([JOBS[2]], { ...SETTINGS, maxSteps: 40 })).get('t2')!;
  const re = tf.tidy(() => {
    const r = memObjective(model, tf.tensor3d(o.memory, [1, 2, model.embedDim]), padIds([JOBS[2].ids]), [JOBS[2].ids.length]);
    return { loss: r.loss.dataSync()[0], acc: r.correct.dataSync()[0] / (JOBS[2].ids.length - 1) };
  });
  assert.equal(re.acc, o.bestAccuracy);
  assert.ok(Math.abs(re.loss - o.lossAtBestAccuracy) < 1e-5 * Math.abs(o.lossAtBestAccuracy), `${re.loss} vs ${o.lossAtBestAccuracy}`);
  assert.equal(o.trajectory!.accuracy[o.bestStep - 1], o.bestAccuracy);
  assert.equal(o.bestLoss, Math.min(...o.trajectory!.loss));
});

test('stop rules: patience counts steps without strict improvement; max steps; solved', async () => {
  const { model } = await loaded;
  const p = await cramOne(model, { key: 'pat', ids: text(40), nMem: 1 }, { ...SETTINGS, maxSteps: 500, patience: 5, optimizer: { ...PAPER_SETTINGS.optimizer, lr: 1e-6 } });
  assert.equal(p.stopReason, 'patience');
  assert.equal(p.steps, p.bestStep + 5);
  const m = await cramOne(model, { key: 'max', ids: text(40), nMem: 1 }, { ...SETTINGS, maxSteps: 7 });
  assert.equal(m.stopReason, 'max_steps');
  assert.equal(m.steps, 7);
  const s = await cramOne(model, { key: 'easy', ids: text(3), nMem: 4 }, { ...SETTINGS, maxSteps: 300 });
  assert.equal(s.stopReason, 'solved');
  assert.equal(s.bestAccuracy, 1);
  assert.equal(s.steps, s.bestStep);
});

test('a run leaves no tensors behind', async () => {
  const before = tf.memory().numTensors;
  await runAll(JOBS, { ...SETTINGS, maxSteps: 5, maxBatch: 2 });
  assert.equal(tf.memory().numTensors, before);
});

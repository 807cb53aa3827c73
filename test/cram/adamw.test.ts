/** AdamW against a hand-computed two-step update (torch.optim.AdamW's algorithm) and per-row step counts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { adamwStep, PAPER_ADAMW } from '../../src/cram/adamw.ts';
import { ready } from '../helpers.ts';

const S = { ...PAPER_ADAMW, lr: 0.1 }; // betas (0.9, 0.9), eps 1e-8, weight decay 0.01

test('AdamW matches a hand-computed two-step update', async () => {
  await ready;
  const p0 = tf.tensor2d([[1.0, -2.0]]);
  const g1 = tf.tensor2d([[0.5, -1.0]]);
  const g2 = tf.tensor2d([[-0.25, 2.0]]);
  const s1 = adamwStep(S, p0, g1, { m: tf.zerosLike(p0), v: tf.zerosLike(p0) }, [1]);
  // Step 1 by hand: p ← p·(1 − lr·wd) = [0.999, −1.998]; m = 0.1·g = [0.05, −0.1]; v = 0.1·g² = [0.025, 0.1];
  // bias corrections 1 − 0.9 = 0.1 each: step size lr/0.1 = 1, denom = √v/√0.1 = [0.5, 1.0];
  // p ← p − 1·m/denom = [0.999 − 0.1, −1.998 + 0.1] = [0.899, −1.898].
  const p1 = s1.params.dataSync();
  assert.ok(Math.abs(p1[0] - 0.899) < 1e-6 && Math.abs(p1[1] + 1.898) < 1e-6, `step 1: ${p1}`);
  const s2 = adamwStep(S, s1.params, g2, s1.state, [2]);
  // Step 2 by hand: p ← [0.899, −1.898]·0.999 = [0.898101, −1.896102]; m = 0.9·m + 0.1·g2 = [0.02, 0.11];
  // v = 0.9·v + 0.1·g2² = [0.02875, 0.49]; bias corrections 1 − 0.81 = 0.19;
  // p ← p − (0.1/0.19)·m / (√v/√0.19 + 1e-8).
  const expected = [0.898101 - (0.1 / 0.19) * 0.02 / (Math.sqrt(0.02875) / Math.sqrt(0.19) + 1e-8),
    -1.896102 - (0.1 / 0.19) * 0.11 / (Math.sqrt(0.49) / Math.sqrt(0.19) + 1e-8)];
  const p2 = s2.params.dataSync();
  assert.ok(Math.abs(p2[0] - expected[0]) < 2e-6 && Math.abs(p2[1] - expected[1]) < 2e-6, `step 2: ${p2} vs ${expected}`);
  assert.ok(Math.abs(expected[0] - 0.871041) < 1e-5); // the hand arithmetic itself
  tf.dispose([p0, g1, g2, s1.params, s1.state.m, s1.state.v, s2.params, s2.state.m, s2.state.v]);
});

test('AdamW rows are independent problems with their own step counts', async () => {
  await ready;
  // Row 0 at its first step, row 1 at its fifth: each must equal the same update done alone.
  const p = tf.tensor2d([[0.3, -0.7], [1.5, 0.2]]);
  const g = tf.tensor2d([[0.1, 0.4], [-0.6, 0.05]]);
  const m = tf.tensor2d([[0, 0], [0.2, -0.1]]);
  const v = tf.tensor2d([[0, 0], [0.3, 0.02]]);
  const both = adamwStep(S, p, g, { m, v }, [1, 5]).params.dataSync();
  for (const [row, step] of [[0, 1], [1, 5]]) {
    const slice = (t: tf.Tensor) => tf.slice(t, [row, 0], [1, 2]);
    const alone = adamwStep(S, slice(p), slice(g), { m: slice(m), v: slice(v) }, [step]).params.dataSync();
    assert.deepEqual(Array.from(alone), Array.from(both.slice(2 * row, 2 * row + 2)));
  }
});

/** SplitWeight (row blocks under a binding limit) against the unsplit matrix, forward and gradient, on wasm/cpu. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { SplitWeight, needsSplit, rowsPerBlock } from '../../src/engine/split-matmul.ts';
import { ready } from '../helpers.ts';

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) % 2147483648; out[i] = x / 2147483648 - 0.5; }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const V = 37; // not a multiple of the block size: the last block is short
const D = 16;
const M = 5;
// 4 rows × 16 floats × 4 bytes = 256 bytes per block → 10 blocks.
const BLOCK_BYTES = 4 * D * 4 + 3;

test('rowsPerBlock / needsSplit', () => {
  assert.equal(rowsPerBlock(D, BLOCK_BYTES), 4);
  assert.equal(rowsPerBlock(4096, 2 ** 31), 131072);
  // An 8B model's embedding (2.10e9 bytes) just fits a 2 GiB (2.147e9) binding; a 70B's (d 8192) does not.
  assert.equal(needsSplit(128256, 4096, 2 ** 31), false);
  assert.equal(needsSplit(128256, 8192, 2 ** 31), true);
  assert.equal(needsSplit(128256, 4096, 2 ** 30), true);
  assert.equal(needsSplit(50257, 768, 2 ** 31), false);
  assert.equal(needsSplit(50257, 768, 2 ** 27), true); // GPT-2 on lavapipe (128 MiB)
  assert.equal(needsSplit(50257, 768, null), false);
  assert.throws(() => rowsPerBlock(1000, 100), /exceeds/);
});

test('SplitWeight.fromHost: blocks cover the matrix under the limit', async () => {
  await ready;
  const data = rand(V * D, 1);
  const s = SplitWeight.fromHost(data, V, D, BLOCK_BYTES);
  try {
    assert.equal(s.numBlocks, 10);
    assert.deepEqual(s.offsets, [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]);
    for (const b of s.blocks) assert.ok(b.size * 4 <= BLOCK_BYTES);
    const whole = tf.concat(s.blocks, 0);
    assert.deepEqual(Array.from(whole.dataSync()), Array.from(data));
    whole.dispose();
  } finally {
    s.dispose();
  }
});

test('gatherRows equals tf.gather on the whole matrix (any id shape, every block)', async () => {
  await ready;
  const data = rand(V * D, 2);
  const w = tf.tensor2d(data, [V, D]);
  const s = SplitWeight.fromTensor(w, BLOCK_BYTES);
  const before = tf.memory().numTensors;
  const ids = tf.tensor2d([0, 3, 4, 36, 17, 35, 8, 1], [2, 4], 'int32');
  const got = s.gatherRows(ids);
  const want = tf.gather(w, ids);
  assert.deepEqual(got.shape, [2, 4, D]);
  assert.equal(maxAbsDiff(got.dataSync(), want.dataSync()), 0);
  tf.dispose([ids, got, want]);
  assert.equal(tf.memory().numTensors, before);
  s.dispose();
  w.dispose();
});

test('matMulBlocks: logits and dh equal the unsplit h·Wᵀ and its gradient', async () => {
  await ready;
  const w = tf.tensor2d(rand(V * D, 3), [V, D]);
  const h = tf.tensor2d(rand(M * D, 4), [M, D]);
  const upstream = tf.tensor2d(rand(M * V, 5), [M, V]); // a generic dL/dlogits
  const s = SplitWeight.fromTensor(w, BLOCK_BYTES);
  try {
    const ref = tf.matMul(h, w, false, true);
    const got = s.matMulBlocks(h);
    assert.deepEqual(got.shape, [M, V]);
    assert.ok(maxAbsDiff(got.dataSync(), ref.dataSync()) < 1e-6);

    const loss = (f: (x: tf.Tensor2D) => tf.Tensor2D) => (x: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor2D), upstream)) as tf.Scalar;
    const gRef = tf.grad(loss((x) => tf.matMul(x, w, false, true)))(h);
    const gSplit = tf.grad(loss((x) => s.matMulBlocks(x)))(h);
    assert.ok(maxAbsDiff(gSplit.dataSync(), gRef.dataSync()) < 1e-5, `grad diff ${maxAbsDiff(gSplit.dataSync(), gRef.dataSync())}`);
    // backward() is the same sum, for hand-written gradients (text-loss).
    const gBack = s.backward(upstream);
    assert.ok(maxAbsDiff(gBack.dataSync(), gRef.dataSync()) < 1e-5);
    // Softmax cross-entropy through the split head: same gradient as through the whole one.
    const ce = (f: (x: tf.Tensor2D) => tf.Tensor2D) => (x: tf.Tensor) => tf.mean(tf.sub(tf.logSumExp(f(x as tf.Tensor2D), 1), tf.sum(tf.mul(f(x as tf.Tensor2D), tf.oneHot(tf.tensor1d([1, 7, 36, 0, 20], 'int32'), V)), 1))) as tf.Scalar;
    const cRef = tf.grad(ce((x) => tf.matMul(x, w, false, true)))(h);
    const cSplit = tf.grad(ce((x) => s.matMulBlocks(x)))(h);
    assert.ok(maxAbsDiff(cSplit.dataSync(), cRef.dataSync()) < 1e-6);
    tf.dispose([ref, got, gRef, gSplit, gBack, cRef, cSplit]);
  } finally {
    s.dispose();
    tf.dispose([w, h, upstream]);
  }
});

test('one block when the matrix fits: same results, no slicing', async () => {
  await ready;
  const w = tf.tensor2d(rand(V * D, 6), [V, D]);
  const h = tf.tensor2d(rand(M * D, 7), [M, D]);
  const s = SplitWeight.fromTensor(w, V * D * 4);
  assert.equal(s.numBlocks, 1);
  const a = s.matMulBlocks(h);
  const b = tf.matMul(h, w, false, true);
  assert.ok(maxAbsDiff(a.dataSync(), b.dataSync()) < 1e-6);
  tf.dispose([a, b, w, h]);
  s.dispose();
});

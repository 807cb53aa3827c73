/** The hand-written cross-entropy gradient equals tfjs autodiff of log-softmax, chunked or not, saved or recomputed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { DenseMatrix } from '../../src/models/frozen-matrix.ts';
import { Linear } from '../../src/models/layers.ts';
import { rowCrossEntropy } from '../../src/cram/text-loss.ts';
import { ready, relL2 } from '../helpers.ts';

test('row cross-entropy: value, argmax hits and gradient match autodiff in every chunking mode', async () => {
  await ready;
  tf.tidy(() => {
    const V = 37, d = 8, M = 11;
    const w = tf.randomNormal([V, d], 0, 1, 'float32', 1) as tf.Tensor2D;
    const head = new Linear(new DenseMatrix(w, tf.transpose(w)), null);
    const h = tf.randomNormal([M, d], 0, 1, 'float32', 2) as tf.Tensor2D;
    const target = tf.tensor1d(Array.from({ length: M }, (_, i) => (i * 7) % V), 'int32');
    const weights = tf.randomUniform([M], 0.1, 1, 'float32', 3);
    const reference = (x: tf.Tensor) => {
      const logp = tf.logSoftmax(tf.matMul(x as tf.Tensor2D, w, false, true));
      return tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(logp, tf.oneHot(target, V)), 1), weights)));
    };
    const refGrad = tf.grad(reference)(h).dataSync();
    const refLoss = reference(h).dataSync()[0];
    const refHits = tf.cast(tf.equal(tf.argMax(tf.matMul(h, w, false, true), 1), target), 'float32').dataSync();
    for (const limits of [{}, { chunkFloats: 3 * V }, { chunkFloats: 3 * V, saveFloats: 0 }, { saveFloats: 0 }]) {
      const f = (x: tf.Tensor) => tf.sum(tf.mul(rowCrossEntropy(head, x as tf.Tensor2D, target, limits).ce, weights));
      const loss = f(h).dataSync()[0];
      assert.ok(Math.abs(loss - refLoss) < 1e-5 * Math.abs(refLoss), `${JSON.stringify(limits)}: loss ${loss} vs ${refLoss}`);
      const g = tf.grad(f)(h).dataSync();
      assert.ok(relL2(g, refGrad) < 1e-5, `${JSON.stringify(limits)}: gradient error ${relL2(g, refGrad)}`);
      assert.deepEqual(Array.from(rowCrossEntropy(head, h, target, limits).hit.dataSync()), Array.from(refHits));
    }
  });
});

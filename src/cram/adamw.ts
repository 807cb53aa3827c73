/**
 * AdamW exactly as torch.optim.AdamW (decoupled weight decay, bias correction, eps outside the sqrt), applied to a
 * batch of independent problems: row b of the parameters has its own moments and its own step count, because texts
 * join a running batch at different times.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface AdamWSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** The paper's settings (official code defaults). */
export const PAPER_ADAMW: AdamWSettings = { lr: 1e-2, beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0.01 };

export interface AdamWState {
  m: tf.Tensor;
  v: tf.Tensor;
}

/**
 * One update. `steps[b]` is the 1-based step number of row b for this update. Returns new params and state
 * (the caller owns and disposes the old ones). Shapes: params, grad, m, v = [B, ...].
 */
export function adamwStep(s: AdamWSettings, params: tf.Tensor, grad: tf.Tensor, state: AdamWState, steps: number[]): { params: tf.Tensor; state: AdamWState } {
  return tf.tidy(() => {
    const B = params.shape[0];
    const bcShape = [B, ...params.shape.slice(1).map(() => 1)];
    // Per-row bias corrections computed in float64, as PyTorch computes them on Python floats.
    const stepSize = tf.tensor(steps.map((t) => s.lr / (1 - s.beta1 ** t)), bcShape);
    const bc2Sqrt = tf.tensor(steps.map((t) => Math.sqrt(1 - s.beta2 ** t)), bcShape);
    const decayed = tf.mul(params, 1 - s.lr * s.weightDecay);
    const m = tf.add(tf.mul(state.m, s.beta1), tf.mul(grad, 1 - s.beta1));
    const v = tf.add(tf.mul(state.v, s.beta2), tf.mul(tf.square(grad), 1 - s.beta2));
    const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), s.eps);
    const next = tf.sub(decayed, tf.mul(stepSize, tf.div(m, denom)));
    return { params: next, state: { m, v } };
  });
}

/**
 * The cramming objective for a batch of texts: [mem_1..mem_K, e(t_1)..e(t_N)] through the frozen model, loss and
 * accuracy over text positions 1..N-1 only. Rows are right-padded; with causal attention a real token never sees the
 * padding after it, so padding changes neither a text's loss nor its gradient (no attention mask needed).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '../models/causal-lm.ts';
import { textLoss } from './text-loss.ts';

export interface ObjectiveResult {
  /** Per-text mean CE [B]. */
  loss: tf.Tensor1D;
  /** Per-text number of correct argmax predictions [B]. */
  correct: tf.Tensor1D;
}

/** ids: int32 [B, maxN] (right-padded); mem: [B, K, d] or null for the no-mem baseline. */
export function memObjective(model: CausalLM, mem: tf.Tensor3D | null, ids: tf.Tensor2D, lengths: number[]): ObjectiveResult {
  const tokens = model.embed(ids);
  const K = mem ? mem.shape[1] : 0;
  const inputs = mem ? tf.concat([mem, tokens], 1) : tokens;
  if (inputs.shape[1] > model.maxPositions) {
    throw new Error(`${K} [mem] + ${ids.shape[1]} text tokens exceed the model's ${model.maxPositions} positions`);
  }
  return textLoss(model.head, model.hiddenStates(inputs as tf.Tensor3D), ids, lengths, K);
}

export interface StepResult {
  loss: tf.Tensor1D;
  correct: tf.Tensor1D;
  /** d(sum of per-text losses)/d(mem) [B, K, d]: row b is exactly the gradient of text b's own mean loss. */
  grad: tf.Tensor3D;
}

/** Loss, accuracy counts and the gradient w.r.t. the [mem] vectors, in one forward/backward pass. */
export function memObjectiveAndGrad(model: CausalLM, mem: tf.Tensor3D, ids: tf.Tensor2D, lengths: number[]): StepResult {
  const side: ObjectiveResult[] = [];
  const f = (m: tf.Tensor) => {
    const r = memObjective(model, m as tf.Tensor3D, ids, lengths);
    side.push({ loss: tf.keep(r.loss), correct: tf.keep(r.correct) });
    return tf.sum(r.loss) as tf.Scalar;
  };
  const { value, grad } = tf.valueAndGrad(f)(mem);
  value.dispose();
  const { loss, correct } = side[0];
  // Hand the kept tensors to the caller's scope so an enclosing tidy can release them.
  const out = { loss: tf.clone(loss), correct: tf.clone(correct), grad: grad as tf.Tensor3D };
  tf.dispose([loss, correct]);
  return out;
}

/** Right-pads id lists into an int32 tensor [B, maxN]. */
export function padIds(texts: number[][], pad = 0): tf.Tensor2D {
  const maxN = Math.max(...texts.map((t) => t.length));
  const flat = new Int32Array(texts.length * maxN).fill(pad);
  texts.forEach((t, b) => flat.set(t, b * maxN));
  return tf.tensor2d(flat, [texts.length, maxN], 'int32');
}

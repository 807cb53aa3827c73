/**
 * Greedy generation from input embeddings (e.g. [mem] vectors + BOS), the strict check that a text comes back
 * exactly. Recomputes the full prefix each step (no KV cache): simple and exact; the texts here are short.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '../models/causal-lm.ts';

export interface GreedyOptions {
  /** Stop early at the first generated token that differs from `expected[i]` (enough to measure an exact prefix). */
  expected?: number[];
  stopAtMismatch?: boolean;
  /** Stop when this id is generated. */
  eosId?: number | null;
}

/**
 * prefix: [1, P, d] input embeddings. Returns up to `maxNew` generated ids.
 */
export async function greedyGenerate(model: CausalLM, prefix: tf.Tensor3D, maxNew: number, opts: GreedyOptions = {}): Promise<number[]> {
  const out: number[] = [];
  let seq = tf.keep(tf.clone(prefix));
  try {
    for (let i = 0; i < maxNew; i++) {
      if (seq.shape[1] >= model.maxPositions) break;
      const nextT = tf.tidy(() => {
        const h = model.hiddenStates(seq);
        const last = tf.slice(h, [0, seq.shape[1] - 1, 0], [1, 1, -1]);
        return tf.argMax(tf.reshape(model.head.forward(last), [-1]));
      });
      // Async read: WebGPU in Node cannot read synchronously.
      const next = (await nextT.data())[0];
      nextT.dispose();
      out.push(next);
      if (opts.eosId != null && next === opts.eosId) break;
      if (opts.stopAtMismatch && opts.expected && next !== opts.expected[i]) break;
      if (opts.expected && opts.stopAtMismatch && i + 1 >= opts.expected.length) break;
      const grown = tf.tidy(() => tf.concat([seq, model.embed(tf.tensor2d([[next]], [1, 1], 'int32'))], 1) as tf.Tensor3D);
      seq.dispose();
      seq = tf.keep(grown);
    }
  } finally {
    seq.dispose();
  }
  return out;
}

/** Length of the common prefix of two id lists. */
export function commonPrefixLength(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * Exact greedy regeneration: from the trained vectors plus the text's first token (BOS where the tokenizer adds one),
 * generate greedily and compare with the text. Stricter than teacher-forced accuracy: one early miss cascades.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '../models/causal-lm.ts';
import { commonPrefixLength, greedyGenerate } from './generate.ts';

export interface Regeneration {
  /** All N-1 tokens after the first came back exactly. */
  regenerated_exact: boolean;
  /** How many tokens after the first came back before the first miss. */
  regenerated_prefix_tokens: number;
  /** The generated ids (stops at the first miss unless `full`). */
  generated: number[];
}

export async function regenerate(model: CausalLM, memory: Float32Array, nMem: number, ids: number[], full = false): Promise<Regeneration> {
  const d = model.embedDim;
  const prefix = tf.tidy(() => tf.concat([tf.tensor3d(memory, [1, nMem, d]), model.embed(tf.tensor2d([[ids[0]]], [1, 1], 'int32'))], 1) as tf.Tensor3D);
  const target = ids.slice(1);
  const generated = await greedyGenerate(model, prefix, target.length, { expected: target, stopAtMismatch: !full });
  prefix.dispose();
  const n = commonPrefixLength(generated, target);
  return { regenerated_exact: n === target.length, regenerated_prefix_tokens: n, generated };
}

/**
 * `verify`: the project's numbers on a reference input, in the format of the bundled reference.json files, so a port
 * can be checked against Hugging Face transformers.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { LoadedModel } from '../models/load.ts';
import { memObjective, memObjectiveAndGrad, padIds } from './objective.ts';

export interface Reference {
  input_ids: number[];
  mem: number[];
  text?: string;
  [key: string]: unknown;
}

export interface VerifyResult {
  model: string;
  loss_no_mem: number;
  accuracy_no_mem: number;
  loss_with_mem: number;
  accuracy_with_mem: number;
  grad_mem: number[];
  embedding_std: number;
  token_ids?: number[];
  seconds: number;
}

export function readReference(path: string): Reference {
  let ref: Reference;
  try {
    ref = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read reference ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(ref.input_ids) || !Array.isArray(ref.mem)) throw new Error(`${path} needs "input_ids" and "mem" arrays`);
  return ref;
}

export async function verify(loaded: LoadedModel, ref: Reference): Promise<VerifyResult> {
  const { model } = loaded;
  if (ref.mem.length !== model.embedDim) {
    throw new Error(`reference mem has ${ref.mem.length} entries but ${loaded.name} takes vectors of ${model.embedDim}`);
  }
  const t0 = performance.now();
  const n = ref.input_ids.length;
  const [stats, grad] = tf.tidy(() => {
    const ids = padIds([ref.input_ids]);
    const base = memObjective(model, null, ids, [n]);
    const mem = tf.tensor3d(ref.mem, [1, 1, model.embedDim]);
    const step = memObjectiveAndGrad(model, mem, ids, [n]);
    return [tf.concat([base.loss, base.correct, step.loss, step.correct]), step.grad];
  });
  const [s, g] = [await stats.data(), await grad.data()];
  tf.dispose([stats, grad]);
  const res = {
    loss_no_mem: s[0], accuracy_no_mem: s[1] / (n - 1), loss_with_mem: s[2], accuracy_with_mem: s[3] / (n - 1), grad_mem: Array.from(g),
  };
  const out: VerifyResult = { model: loaded.name, ...res, embedding_std: model.embeddingStd(), seconds: (performance.now() - t0) / 1000 };
  if (typeof ref.text === 'string' && loaded.tokenizer) out.token_ids = loaded.tokenizer.encode(ref.text).slice(0, n);
  return out;
}

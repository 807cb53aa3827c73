/**
 * The harness's only door to the tensor engine. Everything a run, `cram run` or `cram eval` asks of a frozen model goes
 * through here: start the backend, load a model, cram a batch of jobs, regenerate greedily, measure the no-vector
 * baseline, evaluate saved vectors. Callers import this module lazily (`await import`), so validating a config,
 * planning and reporting never load the engine.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendChoice, type BackendInfo } from '../engine/backend.ts';
import { baseline, cramAll, type CramHooks, type CramJob, type CramSettings } from '../cram/engine.ts';
import { memObjective, padIds } from '../cram/objective.ts';
import { regenerate, type Regeneration } from '../cram/regenerate.ts';
import { loadModel } from '../models/load.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';

export type { CramHooks, CramJob, CramOutcome, CramProgress, CramSettings } from '../cram/engine.ts';
export type { Regeneration } from '../cram/regenerate.ts';

/** A loaded frozen model and what the harness does with it. */
export interface ModelSession {
  /** Folder name, e.g. "gutenberg-llama-s". */
  readonly name: string;
  readonly dir: string;
  /** SHA-256 of the weight bytes (identifies the model in vector files). */
  readonly weightsSha256: string;
  readonly tokenizer: TextTokenizer;
  /** d: width of a [mem] vector. */
  readonly embedDim: number;
  /** V: rows of the input-embedding matrix. */
  readonly numEmbeddings: number;
  readonly maxPositions: number;
  /** Optimises every job (batched); outcomes arrive through hooks.onFinish as texts finish. */
  cram(jobs: CramJob[], settings: CramSettings, hooks: CramHooks): Promise<void>;
  /** Exact greedy regeneration of ids[1..] from [vectors, ids[0]]. */
  regenerate(memory: Float32Array, nMem: number, ids: number[]): Promise<Regeneration>;
  /** Loss and accuracy of each text without vectors. */
  baseline(texts: number[][]): Promise<{ loss: number; accuracy: number }[]>;
  /** Loss and teacher-forced accuracy of one text with the given vectors in front. */
  evaluate(memory: Float32Array, nMem: number, ids: number[]): Promise<{ loss: number; accuracy: number }>;
  dispose(): void;
}

export function startEngine(choice: BackendChoice): Promise<BackendInfo> {
  return initBackend(choice);
}

/** Loads a model with its tokenizer; the engine must have been started. */
export async function openModel(nameOrPath: string): Promise<ModelSession> {
  const loaded = await loadModel(nameOrPath);
  const { model } = loaded;
  if (!loaded.tokenizer) throw new Error(`${loaded.dir} has no tokenizer`);
  return {
    name: loaded.name,
    dir: loaded.dir,
    weightsSha256: loaded.weightsSha256,
    tokenizer: loaded.tokenizer,
    embedDim: model.embedDim,
    numEmbeddings: model.numEmbeddings,
    maxPositions: model.maxPositions,
    cram: (jobs, settings, hooks) => cramAll(model, jobs, settings, hooks),
    regenerate: (memory, nMem, ids) => regenerate(model, memory, nMem, ids),
    baseline: (texts) => baseline(model, texts),
    async evaluate(memory, nMem, ids) {
      const n = ids.length;
      const statsT = tf.tidy(() => {
        const r = memObjective(model, tf.tensor3d(memory, [1, nMem, model.embedDim]), padIds([ids]), [n]);
        return tf.concat([r.loss, r.correct]);
      });
      const stats = await statsT.data();
      statsT.dispose();
      return { loss: stats[0], accuracy: stats[1] / (n - 1) };
    },
    dispose: () => model.dispose(),
  };
}

/**
 * What the architectures share: a frozen token embedding, a stack of blocks, an output head, and constants kept per
 * sequence length. Subclasses build their blocks and write hiddenStates; embedding, head and disposal live here.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from './causal-lm.ts';
import type { ModelConfig } from './config.ts';
import type { Embedding } from './embedding.ts';
import { LengthCache, Linear } from './layers.ts';
import type { TensorMap } from './tensor-map.ts';

interface Disposable { dispose(): void }

export abstract class FrozenTransformer<Block extends object> implements CausalLM {
  readonly numEmbeddings: number;
  readonly maxPositions: number;
  protected readonly cache = new LengthCache();
  protected readonly blocks: Block[] = [];
  /** Other weights this model owns (final norm, position table, projections), disposed with it. */
  protected readonly extras: Disposable[] = [];
  abstract readonly head: Linear;

  constructor(readonly config: ModelConfig, protected readonly embedding: Embedding, readonly embedDim: number) {
    this.numEmbeddings = config.vocabSize;
    this.maxPositions = config.maxPositions;
  }

  /** The output head: the embedding matrix itself when tied, else the stored matrix `name` [vocab, embedDim]. */
  protected outputHead(w: TensorMap, tied: boolean, name: string): Linear {
    return tied ? this.embedding.tiedHead() : Linear.fromTorch(w, name, { shape: [this.numEmbeddings, this.embedDim] });
  }

  embed(ids: tf.Tensor2D): tf.Tensor3D {
    return this.embedding.lookup(ids) as tf.Tensor3D;
  }

  embeddingStd(): number {
    return this.embedding.std();
  }

  abstract hiddenStates(inputsEmbeds: tf.Tensor3D, attentionMask?: tf.Tensor2D): tf.Tensor3D;

  dispose(): void {
    this.cache.dispose();
    for (const b of this.blocks) for (const m of Object.values(b) as Disposable[]) m.dispose();
    for (const e of this.extras) e.dispose();
    this.head.dispose();
    this.embedding.dispose();
  }
}

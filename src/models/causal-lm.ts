/** What every architecture provides to the cramming code: embeddings in, final hidden states out, a frozen head. */
import type * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.ts';
import type { Linear } from './layers.ts';

export interface CausalLM {
  readonly config: ModelConfig;
  /** Width of one input embedding, and so of one [mem] vector (OPT: word_embed_proj_dim). */
  readonly embedDim: number;
  /** Rows of the input-embedding matrix (the |V| of the paper's theoretical capacity). */
  readonly numEmbeddings: number;
  /** Longest sequence (mem + text) the model accepts. */
  readonly maxPositions: number;
  /** Token embeddings [B, T, embedDim] for int32 ids [B, T]. */
  embed(ids: tf.Tensor2D): tf.Tensor3D;
  /** Final hidden states, ready for the head, for input embeddings [B, T, embedDim]; mask [B, T] (1 = real token). */
  hiddenStates(inputsEmbeds: tf.Tensor3D, attentionMask?: tf.Tensor2D): tf.Tensor3D;
  /** The frozen output projection: logits = hidden · headᵀ. */
  readonly head: Linear;
  /** std of the whole input-embedding matrix (the paper's init scale for [mem] vectors). */
  embeddingStd(): number;
  dispose(): void;
}

/** logits [B, T, V] for input embeddings (convenience; the loss code works on hidden states to save memory). */
export function logitsFromEmbeds(model: CausalLM, inputsEmbeds: tf.Tensor3D, attentionMask?: tf.Tensor2D): tf.Tensor3D {
  return model.head.forward(model.hiddenStates(inputsEmbeds, attentionMask)) as tf.Tensor3D;
}

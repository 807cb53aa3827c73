/**
 * What every architecture gives the cramming code, as small as the paper's MemoryCell needs: token embeddings,
 * final hidden states from input embeddings (so [mem] vectors can be put in front), and the frozen output head.
 * Each builds graph nodes (src/engine/graph); the objective graphs in src/cram/ put them together.
 */
import type { Graph, Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import type { CommonConfig, RawConfig } from './config.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface CausalLM {
  readonly config: CommonConfig;
  readonly weights: Weights;
  /** Width of one input embedding, and so of one [mem] vector (OPT: word_embed_proj_dim). */
  readonly embedDim: number;
  /** Rows of the input-embedding matrix (the |V| of the paper's theoretical capacity). */
  readonly numEmbeddings: number;
  /** Longest sequence (mem + text) the model accepts. */
  readonly maxPositions: number;
  /** Token embeddings [B, N, embedDim] for int64 ids [B, N] (Gemma's √d scaling included: [mem] vectors are not scaled). */
  embed(g: Graph, ids: Value): Value;
  /** Final hidden states [B, T, h], ready for the head, for input embeddings [B, T, embedDim]. */
  hiddenStates(x: Value, seq: Sequence): Value;
  /** The frozen output head (logits = h · Wᵀ + b, then soft-capping where the model has it). */
  head(g: Graph): Head;
  /** std of the whole input-embedding matrix (the paper's init scale for [mem] vectors), float64 on the host. */
  embeddingStd(): number;
}

export interface Head {
  /** W [V, h] as row blocks (one block unless it is too large for one binding). */
  blocks: op.RowBlock[];
  bias: Value | null;
  /** Gemma-2 final_logit_softcapping: logits = cap · tanh(logits / cap). */
  softcap: number | null;
}

/** Logits [M, V] for hidden rows [M, h]. */
export function headLogits(head: Head, h: Value): Value {
  const parts = head.blocks.map((b) => op.linear2d(h, b.value));
  let logits = parts.length === 1 ? parts[0] : op.concat(parts, 1);
  if (head.bias) logits = op.add(logits, head.bias);
  if (head.softcap) logits = op.scale(op.tanh(op.scale(logits, 1 / head.softcap)), head.softcap);
  return logits;
}

/**
 * Per-row cross-entropy and argmax hits of the head's logits against targets: the fused closed-form gradient when the
 * head is linear, the generic one (through tanh) when it soft-caps.
 */
export function headCrossEntropy(head: Head, h: Value, targets: Value): { ce: Value; hit: Value } {
  if (!head.softcap) {
    const a = op.autocastHeadInputs(h, head.blocks); // the head's operands in the autocast precision (ops.ts)
    return op.linearCrossEntropy(a.h, a.blocks, head.bias, targets);
  }
  return op.crossEntropy(headLogits(head, h), targets);
}

/** One architecture: its config reader and its model, side by side in its own file, listed in registry.ts. */
export interface Architecture<C extends CommonConfig = CommonConfig> {
  /** Hugging Face `model_type` values it reads. */
  modelTypes: string[];
  configure(raw: RawConfig, where: string): C;
  create(config: C, weights: Weights): CausalLM;
}

/**
 * The head of a Hugging Face checkpoint whose untied head is `lm_head.weight`: that, or null (the embedding) when the
 * config ties them or the weights have none (llama2.c and some exports omit it even when the config does not tie).
 */
export function lmHeadName(config: CommonConfig, weights: Weights): string | null {
  return config.tieWordEmbeddings || !weights.has('lm_head.weight') ? null : 'lm_head.weight';
}

/** torch.std of a matrix (unbiased, n−1), in float64. */
export function hostStd(x: Float32Array): number {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i] - mean) ** 2;
  return Math.sqrt(ss / (x.length - 1));
}

/**
 * The parts most architectures share: an embedding table looked up by id, a head that is the embedding (tied) or
 * its own matrix, and the embedding std computed once from the host copy.
 */
export abstract class FrozenLM<C extends CommonConfig> implements CausalLM {
  readonly numEmbeddings: number;
  readonly maxPositions: number;
  private std: number | null = null;

  constructor(
    readonly config: C,
    readonly weights: Weights,
    readonly embedDim: number,
    protected readonly embeddingName: string,
    protected readonly headName: string | null,
  ) {
    this.numEmbeddings = weights.get(embeddingName).shape[0];
    this.maxPositions = config.maxPositions;
  }

  embed(g: Graph, ids: Value): Value {
    return op.gatherRowBlocks(this.weights.blocks(g, this.embeddingName, [this.numEmbeddings, this.embedDim]), ids);
  }

  abstract hiddenStates(x: Value, seq: Sequence): Value;

  head(g: Graph): Head {
    return { blocks: this.weights.blocks(g, this.headName ?? this.embeddingName), bias: null, softcap: null };
  }

  embeddingStd(): number {
    if (this.std === null) this.std = hostStd(this.weights.read(this.embeddingName));
    return this.std;
  }
}

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
  /** Logits [M, V] for hidden rows [M, h]. */
  logits(h: Value): Value;
  /** std of the whole input-embedding matrix (the paper's init scale for [mem] vectors), float64 on the host. */
  embeddingStd(): number;
}

/** One architecture: its config reader and its model, side by side in its own file, listed in registry.ts. */
export interface Architecture<C extends CommonConfig = CommonConfig> {
  /** Hugging Face `model_type` values it reads. */
  modelTypes: string[];
  configure(raw: RawConfig, where: string): C;
  create(config: C, weights: Weights): CausalLM;
}

/**
 * Rows of a table held as row blocks: each id is looked up in the block that holds it (others give zeros), summed.
 * One block is a plain Gather.
 */
export function gatherRows(blocks: { value: Value; start: number; rows: number }[], ids: Value): Value {
  if (blocks.length === 1) return op.gather(blocks[0].value, ids);
  const g = ids.graph;
  let out: Value | null = null;
  for (const b of blocks) {
    const local = op.sub(ids, g.scalar(b.start, 'int64'));
    const inside = op.and(op.greater(local, g.scalar(-1, 'int64')), op.less(local, g.scalar(b.rows, 'int64')));
    const safe = op.where(inside, local, g.scalar(0, 'int64'));
    const rows = op.where(op.unsqueeze(inside, [-1]), op.gather(b.value, safe), g.scalar(0));
    out = out ? op.add(out, rows) : rows;
  }
  return out!;
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

  constructor(readonly config: C, readonly weights: Weights, readonly embedDim: number, protected readonly embeddingName: string, protected readonly headName: string | null) {
    this.numEmbeddings = weights.get(embeddingName).shape[0];
    this.maxPositions = config.maxPositions;
  }

  embed(g: Graph, ids: Value): Value {
    return gatherRows(this.weights.blocks(g, this.embeddingName, [this.numEmbeddings, this.embedDim]), ids);
  }

  abstract hiddenStates(x: Value, seq: Sequence): Value;

  logits(h: Value): Value {
    const blocks = this.weights.blocks(h.graph, this.headName ?? this.embeddingName);
    const parts = blocks.map((b) => op.linear2d(h, b.value));
    return parts.length === 1 ? parts[0] : op.concat(parts, 1);
  }

  embeddingStd(): number {
    if (this.std === null) this.std = hostStd(this.weights.read(this.embeddingName));
    return this.std;
  }
}

/**
 * Mistral (Hugging Face MistralForCausalLM): Llama's layout (RMSNorm, RoPE, SwiGLU, grouped-query attention, no
 * biases) with a sliding window of `sliding_window` keys in every layer (query i sees key j iff i − W < j ≤ i);
 * `sliding_window: null` is full causal attention. Mistral ignores `layer_types` (Ministral reads it).
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { slidingWindowSize, type RawConfig } from './config.ts';
import { attention, gatedMlp, linear, mergeHeads, rmsNorm, rope, ropeTables, splitHeads } from './layers.ts';
import { configureLlama, type LlamaConfig } from './llama.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface MistralConfig extends LlamaConfig {
  /** Keys each query sees (itself included), the same in every layer; null: all earlier keys. */
  slidingWindow: number | null;
}

function configure(raw: RawConfig, where: string): MistralConfig {
  // MistralAttention and MistralMLP have no biases whatever the file says.
  return { ...configureLlama(raw, where), attentionBias: false, mlpBias: false, ropeInterleaved: false, slidingWindow: slidingWindowSize(raw, where) };
}

export class Mistral extends FrozenLM<MistralConfig> {
  constructor(config: MistralConfig, weights: Weights) {
    const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
    super(config, weights, config.hiddenSize, 'model.embed_tokens.weight', tied ? null : 'lm_head.weight');
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = x.graph;
    const d = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const tables = ropeTables(seq, c.headDim, c.rope.theta, c.rope.scaling);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const n = rmsNorm(h, w.value(g, `${p}.input_layernorm.weight`, [d]), c.normEps);
      const q = rope(splitHeads(seq, linear(w, n, `${p}.self_attn.q_proj`, [qDim, d]), c.numHeads, c.headDim), tables, c.headDim);
      const k = rope(splitHeads(seq, linear(w, n, `${p}.self_attn.k_proj`, [kvDim, d]), c.numKvHeads, c.headDim), tables, c.headDim);
      const v = splitHeads(seq, linear(w, n, `${p}.self_attn.v_proj`, [kvDim, d]), c.numKvHeads, c.headDim);
      const a = attention(seq, q, k, v, { window: c.slidingWindow, cacheName: `layer${i}` });
      h = op.add(h, linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim]));
      const n2 = rmsNorm(h, w.value(g, `${p}.post_attention_layernorm.weight`, [d]), c.normEps);
      h = op.add(h, gatedMlp(w, n2, `${p}.mlp`, d, c.intermediateSize, c.activation));
    }
    h = rmsNorm(h, w.value(g, 'model.norm.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }
}

export const mistral: Architecture<MistralConfig> = {
  modelTypes: ['mistral'],
  configure,
  create: (config, weights) => new Mistral(config, weights),
};

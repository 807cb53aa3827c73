/**
 * Qwen3 dense (Hugging Face Qwen3ForCausalLM): Llama's layout plus a per-head RMSNorm on queries and keys (q_norm,
 * k_norm over head_dim, before RoPE); head_dim is its own setting (default 128), so heads × head_dim need not equal
 * hidden_size; optional attention_bias on all four projections. Sliding windows read as Qwen2 reads them.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { num, type RawConfig } from './config.ts';
import { attention, gatedMlp, linear, mergeHeads, rmsNorm, rope, ropeTables, splitHeads } from './layers.ts';
import { configureLlama } from './llama.ts';
import { qwenLayerWindows, type Qwen2Config } from './qwen2.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export type Qwen3Config = Qwen2Config;

function configure(raw: RawConfig, where: string): Qwen3Config {
  const base = configureLlama(raw, where);
  return {
    ...base,
    headDim: num(raw, ['head_dim'], where, 128), // Qwen3Config's default, not hidden_size / heads
    mlpBias: false,
    ropeInterleaved: false,
    windows: qwenLayerWindows(raw, where, base.numLayers),
  };
}

export class Qwen3 extends FrozenLM<Qwen3Config> {
  constructor(config: Qwen3Config, weights: Weights) {
    const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
    super(config, weights, config.hiddenSize, 'model.embed_tokens.weight', tied ? null : 'lm_head.weight');
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = x.graph;
    const d = c.hiddenSize;
    const hd = c.headDim;
    const qDim = c.numHeads * hd;
    const kvDim = c.numKvHeads * hd;
    const bias = c.attentionBias;
    const tables = ropeTables(seq, hd, c.rope.theta, c.rope.scaling);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const n = rmsNorm(h, w.value(g, `${p}.input_layernorm.weight`, [d]), c.normEps);
      // q_norm / k_norm normalise each head's head_dim features ([B, H, T, D], last axis), then RoPE.
      const qHeads = splitHeads(seq, linear(w, n, `${p}.self_attn.q_proj`, [qDim, d], bias), c.numHeads, hd);
      const kHeads = splitHeads(seq, linear(w, n, `${p}.self_attn.k_proj`, [kvDim, d], bias), c.numKvHeads, hd);
      const q = rope(rmsNorm(qHeads, w.value(g, `${p}.self_attn.q_norm.weight`, [hd]), c.normEps), tables, hd);
      const k = rope(rmsNorm(kHeads, w.value(g, `${p}.self_attn.k_norm.weight`, [hd]), c.normEps), tables, hd);
      const v = splitHeads(seq, linear(w, n, `${p}.self_attn.v_proj`, [kvDim, d], bias), c.numKvHeads, hd);
      const a = attention(seq, q, k, v, { window: c.windows[i], cacheName: `layer${i}` });
      h = op.add(h, linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim], bias));
      const n2 = rmsNorm(h, w.value(g, `${p}.post_attention_layernorm.weight`, [d]), c.normEps);
      h = op.add(h, gatedMlp(w, n2, `${p}.mlp`, d, c.intermediateSize, c.activation));
    }
    h = rmsNorm(h, w.value(g, 'model.norm.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }
}

export const qwen3: Architecture<Qwen3Config> = {
  modelTypes: ['qwen3'],
  configure,
  create: (config, weights) => new Qwen3(config, weights),
};

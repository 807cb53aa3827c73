/**
 * OLMo-2 (Hugging Face Olmo2ForCausalLM): no pre-norms; each sublayer's output is RMS-normalised before it joins the
 * residual (post_attention_layernorm after attention, post_feedforward_layernorm after the MLP), and q_norm / k_norm
 * are RMSNorms over the whole q and k projections (heads × head_dim features, before the heads are split and RoPE).
 * Grouped-query attention, optional attention_bias, untied by default.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { num, type RawConfig } from './config.ts';
import { attention, gatedMlp, linear, mergeHeads, rmsNorm, rope, ropeTables, splitHeads } from './layers.ts';
import { configureLlama, type LlamaConfig } from './llama.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export type Olmo2Config = LlamaConfig;

function configure(raw: RawConfig, where: string): Olmo2Config {
  // Olmo2Config's rms_norm_eps defaults to 1e-5 (Llama's to 1e-6).
  return { ...configureLlama(raw, where), normEps: num(raw, ['rms_norm_eps'], where, 1e-5), mlpBias: false, ropeInterleaved: false };
}

export class Olmo2 extends FrozenLM<Olmo2Config> {
  constructor(config: Olmo2Config, weights: Weights) {
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
    const norm = (t: Value, name: string, width: number) => rmsNorm(t, w.value(g, `${name}.weight`, [width]), c.normEps);
    const tables = ropeTables(seq, hd, c.rope.theta, c.rope.scaling);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const q = norm(linear(w, h, `${p}.self_attn.q_proj`, [qDim, d], bias), `${p}.self_attn.q_norm`, qDim);
      const k = norm(linear(w, h, `${p}.self_attn.k_proj`, [kvDim, d], bias), `${p}.self_attn.k_norm`, kvDim);
      const v = linear(w, h, `${p}.self_attn.v_proj`, [kvDim, d], bias);
      const a = attention(seq, rope(splitHeads(seq, q, c.numHeads, hd), tables, hd), rope(splitHeads(seq, k, c.numKvHeads, hd), tables, hd), splitHeads(seq, v, c.numKvHeads, hd), { cacheName: `layer${i}` });
      h = op.add(h, norm(linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim], bias), `${p}.post_attention_layernorm`, d));
      h = op.add(h, norm(gatedMlp(w, h, `${p}.mlp`, d, c.intermediateSize, c.activation), `${p}.post_feedforward_layernorm`, d));
    }
    return op.reshape(norm(h, 'model.norm', d), seq.shape([d]));
  }
}

export const olmo2: Architecture<Olmo2Config> = {
  modelTypes: ['olmo2'],
  configure,
  create: (config, weights) => new Olmo2(config, weights),
};

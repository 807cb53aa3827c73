/**
 * OLMo-2 (Hugging Face Olmo2ForCausalLM): no pre-norms; each sublayer's output is RMS-normalised before it joins the
 * residual (post_attention_layernorm after attention, post_feedforward_layernorm after the MLP), and q_norm / k_norm
 * are RMSNorms over the whole q and k projections (heads × head_dim features, before the heads are split and RoPE).
 * Grouped-query attention, optional attention_bias, untied by default. Attention and MLP are Llama's (llama.ts).
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import type { Architecture } from './causal-lm.ts';
import { num, type RawConfig } from './config.ts';
import { rmsNorm } from './layers.ts';
import { configureLlama, Llama, type LlamaConfig } from './llama.ts';
import type { Sequence } from './sequence.ts';

export type Olmo2Config = LlamaConfig;

function configure(raw: RawConfig, where: string): Olmo2Config {
  // Olmo2Config's rms_norm_eps defaults to 1e-5 (Llama's to 1e-6).
  return {
    ...configureLlama(raw, where),
    normEps: num(raw, ['rms_norm_eps'], where, 1e-5),
    mlpBias: false,
    ropeInterleaved: false,
  };
}

export class Olmo2 extends Llama<Olmo2Config> {
  override hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const d = c.hiddenSize;
    const norm = (t: Value, name: string, width = d) =>
      rmsNorm(t, this.weights.value(x.graph, `${name}.weight`, [width]), c.normEps);
    const tables = this.ropeTables(seq);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const heads = { q: c.numHeads, k: c.numKvHeads };
      const qkNorm = (t: Value, name: 'q' | 'k' | 'v') =>
        name === 'v' ? t : norm(t, `${p}.self_attn.${name}_norm`, heads[name] * c.headDim);
      h = op.add(h, norm(this.selfAttention(i, h, seq, tables, qkNorm), `${p}.post_attention_layernorm`));
      h = op.add(h, norm(this.mlp(i, h), `${p}.post_feedforward_layernorm`));
    }
    return op.reshape(norm(h, 'model.norm'), seq.shape([d]));
  }
}

export const olmo2: Architecture<Olmo2Config> = {
  modelTypes: ['olmo2'],
  configure,
  create: (config, weights) => new Olmo2(config, weights),
};

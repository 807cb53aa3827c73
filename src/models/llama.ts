/**
 * Llama (Hugging Face LlamaForCausalLM; llama2.c checkpoints too): RMSNorm, RoPE (half-split, or interleaved for
 * llama2.c; "llama3" and "linear" scaling), SwiGLU, grouped-query attention, optional attention/MLP biases, tied or
 * untied head.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { activationName, bool, commonConfig, num, ropeSettings, type CommonConfig, type RawConfig, type RopeSettings } from './config.ts';
import { activation, attention, linear, mergeHeads, rmsNorm, rope, ropeTables, splitHeads, type ActivationName } from './layers.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface LlamaConfig extends CommonConfig {
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  normEps: number;
  rope: RopeSettings;
  /** llama2.c checkpoints rotate adjacent pairs (x0,x1),(x2,x3)…; Hugging Face rotates halves. */
  ropeInterleaved: boolean;
  activation: ActivationName;
  attentionBias: boolean;
  mlpBias: boolean;
}

export function configureLlama(raw: RawConfig, where: string): LlamaConfig {
  const hiddenSize = num(raw, ['hidden_size'], where);
  const numHeads = num(raw, ['num_attention_heads'], where);
  return {
    ...commonConfig(raw, where, { tie: false }),
    hiddenSize,
    numHeads,
    numKvHeads: num(raw, ['num_key_value_heads'], where, numHeads),
    headDim: num(raw, ['head_dim'], where, hiddenSize / numHeads),
    intermediateSize: num(raw, ['intermediate_size'], where),
    normEps: num(raw, ['rms_norm_eps'], where, 1e-6),
    rope: ropeSettings(raw, where),
    ropeInterleaved: raw.rope_interleaved === true,
    activation: activationName(raw, where),
    attentionBias: bool(raw, 'attention_bias', false),
    mlpBias: bool(raw, 'mlp_bias', false),
  };
}

export class Llama extends FrozenLM<LlamaConfig> {
  constructor(config: LlamaConfig, weights: Weights) {
    // llama2.c and some exports omit lm_head even when the config does not say the embeddings are tied.
    const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
    super(config, weights, config.hiddenSize, 'model.embed_tokens.weight', tied ? null : 'lm_head.weight');
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const d = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const tables = ropeTables(seq, c.headDim, c.rope.theta, c.rope.scaling);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const n = rmsNorm(h, w.value(x.graph, `${p}.input_layernorm.weight`, [d]), c.normEps);
      const q = rope(splitHeads(seq, linear(w, n, `${p}.self_attn.q_proj`, [qDim, d], c.attentionBias), c.numHeads, c.headDim), tables, c.headDim, c.ropeInterleaved);
      const k = rope(splitHeads(seq, linear(w, n, `${p}.self_attn.k_proj`, [kvDim, d], c.attentionBias), c.numKvHeads, c.headDim), tables, c.headDim, c.ropeInterleaved);
      const v = splitHeads(seq, linear(w, n, `${p}.self_attn.v_proj`, [kvDim, d], c.attentionBias), c.numKvHeads, c.headDim);
      const a = attention(seq, q, k, v, { cacheName: `layer${i}` });
      h = op.add(h, linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim], c.attentionBias));
      const n2 = rmsNorm(h, w.value(x.graph, `${p}.post_attention_layernorm.weight`, [d]), c.normEps);
      const gate = activation(c.activation, linear(w, n2, `${p}.mlp.gate_proj`, [c.intermediateSize, d], c.mlpBias));
      h = op.add(h, linear(w, op.mul(gate, linear(w, n2, `${p}.mlp.up_proj`, [c.intermediateSize, d], c.mlpBias)), `${p}.mlp.down_proj`, [d, c.intermediateSize], c.mlpBias));
    }
    h = rmsNorm(h, w.value(x.graph, 'model.norm.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }
}

export const llama: Architecture<LlamaConfig> = {
  modelTypes: ['llama'],
  configure: configureLlama,
  create: (config, weights) => new Llama(config, weights),
};

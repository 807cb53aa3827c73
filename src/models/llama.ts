/**
 * Llama (Hugging Face LlamaForCausalLM; llama2.c checkpoints too): RMSNorm, RoPE (half-split, or interleaved for
 * llama2.c; "llama3" and "linear" scaling), SwiGLU, grouped-query attention, optional attention/MLP biases, tied or
 * untied head.
 *
 * The decoder here also serves the architectures that differ from Llama only in settings, each of which keeps its
 * own file with its config normaliser and registry entry: per-layer sliding windows (Mistral, Qwen2), biases on q, k
 * and v but not o_proj (Qwen2), per-head q/k RMSNorm before RoPE (Qwen3), layers without RoPE (SmolLM3).
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { activationName, bool, commonConfig, num, ropeSettings, type CommonConfig, type RawConfig, type RopeSettings } from './config.ts';
import { attention, gatedMlp, linear, mergeHeads, rmsNorm, rope, ropeTables, splitHeads, type ActivationName } from './layers.ts';
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
  /** Biases on q_proj, k_proj and v_proj (`attention_bias`). */
  attentionBias: boolean;
  /** Bias on o_proj: with the others in Llama; never in Qwen2. */
  outputBias: boolean;
  mlpBias: boolean;
  /** Per layer: keys each query sees (itself included), or null for full causal attention. */
  windows: (number | null)[];
  /** Per layer: whether it applies RoPE (false: a NoPE layer, SmolLM3). */
  useRope: boolean[];
  /** Per-head RMSNorm of queries and keys over head_dim before RoPE (`q_norm`, `k_norm`: Qwen3). */
  qkNorm: boolean;
}

export function configureLlama(raw: RawConfig, where: string): LlamaConfig {
  const hiddenSize = num(raw, ['hidden_size'], where);
  const numHeads = num(raw, ['num_attention_heads'], where);
  const common = commonConfig(raw, where, { tie: false });
  const attentionBias = bool(raw, 'attention_bias', false);
  return {
    ...common,
    hiddenSize,
    numHeads,
    numKvHeads: num(raw, ['num_key_value_heads'], where, numHeads),
    headDim: num(raw, ['head_dim'], where, hiddenSize / numHeads),
    intermediateSize: num(raw, ['intermediate_size'], where),
    normEps: num(raw, ['rms_norm_eps'], where, 1e-6),
    rope: ropeSettings(raw, where),
    ropeInterleaved: raw.rope_interleaved === true,
    activation: activationName(raw, where),
    attentionBias,
    outputBias: attentionBias,
    mlpBias: bool(raw, 'mlp_bias', false),
    windows: Array.from({ length: common.numLayers }, () => null),
    useRope: Array.from({ length: common.numLayers }, () => true),
    qkNorm: false,
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
    const g = x.graph;
    const d = c.hiddenSize;
    const hd = c.headDim;
    const qDim = c.numHeads * hd;
    const kvDim = c.numKvHeads * hd;
    const qkvBias = c.attentionBias;
    const tables = ropeTables(seq, hd, c.rope.theta, c.rope.scaling);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      // [B, H, T, head_dim] queries or keys: q_norm / k_norm over the last axis where the model has them, then RoPE.
      const position = (t: Value, norm: string): Value => {
        const normed = c.qkNorm ? rmsNorm(t, w.value(g, `${p}.self_attn.${norm}.weight`, [hd]), c.normEps) : t;
        return c.useRope[i] ? rope(normed, tables, hd, c.ropeInterleaved) : normed;
      };
      const n = rmsNorm(h, w.value(g, `${p}.input_layernorm.weight`, [d]), c.normEps);
      const q = position(splitHeads(seq, linear(w, n, `${p}.self_attn.q_proj`, [qDim, d], qkvBias), c.numHeads, hd), 'q_norm');
      const k = position(splitHeads(seq, linear(w, n, `${p}.self_attn.k_proj`, [kvDim, d], qkvBias), c.numKvHeads, hd), 'k_norm');
      const v = splitHeads(seq, linear(w, n, `${p}.self_attn.v_proj`, [kvDim, d], qkvBias), c.numKvHeads, hd);
      const a = attention(seq, q, k, v, { window: c.windows[i], cacheName: `layer${i}` });
      h = op.add(h, linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim], c.outputBias));
      const n2 = rmsNorm(h, w.value(g, `${p}.post_attention_layernorm.weight`, [d]), c.normEps);
      h = op.add(h, gatedMlp(w, n2, `${p}.mlp`, d, c.intermediateSize, c.activation, c.mlpBias));
    }
    h = rmsNorm(h, w.value(g, 'model.norm.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }
}

export const llama: Architecture<LlamaConfig> = {
  modelTypes: ['llama'],
  configure: configureLlama,
  create: (config, weights) => new Llama(config, weights),
};

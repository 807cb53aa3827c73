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
import { FrozenLM, lmHeadName, type Architecture } from './causal-lm.ts';
import {
  activationName,
  bool,
  commonConfig,
  num,
  ropeSettings,
  type CommonConfig,
  type RawConfig,
  type RopeSettings,
} from './config.ts';
import {
  attention,
  gatedMlp,
  linear,
  mergeHeads,
  rmsNorm,
  rope,
  ropeTables,
  splitHeads,
  type ActivationName,
  type RopeTables,
} from './layers.ts';
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

/**
 * Llama's model, which the architectures that share its attention extend: OLMo and OLMo-2 keep its embeddings, head,
 * self-attention and gated MLP and write only their own layer order and norms; Phi-3 keeps the layers and fuses the
 * projections (`projections`, `mlp`) and rotates part of each head (`rotaryDim`).
 */
export class Llama<C extends LlamaConfig = LlamaConfig> extends FrozenLM<C> {
  constructor(config: C, weights: Weights) {
    super(config, weights, config.hiddenSize, 'model.embed_tokens.weight', lmHeadName(config, weights));
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const d = c.hiddenSize;
    const norm = (t: Value, name: string) => rmsNorm(t, this.weights.value(x.graph, `${name}.weight`, [d]), c.normEps);
    const tables = this.ropeTables(seq);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      h = op.add(h, this.selfAttention(i, norm(h, `${p}.input_layernorm`), seq, tables));
      h = op.add(h, this.mlp(i, norm(h, `${p}.post_attention_layernorm`)));
    }
    return op.reshape(norm(h, 'model.norm'), seq.shape([d]));
  }

  /** The leading features of each query and key head that RoPE rotates: all of them. */
  protected rotaryDim(): number {
    return this.config.headDim;
  }

  /** RoPE's cos and sin tables for the sequence's positions. */
  protected ropeTables(seq: Sequence): RopeTables {
    return ropeTables(seq, this.rotaryDim(), this.config.rope.theta, this.config.rope.scaling);
  }

  /** Layer i's q, k and v projections of rows n [B·T, d], flat: [B·T, heads · head_dim] each. */
  protected projections(i: number, n: Value): [Value, Value, Value] {
    const c = this.config;
    const p = `model.layers.${i}.self_attn`;
    const proj = (name: string, heads: number) =>
      linear(this.weights, n, `${p}.${name}_proj`, [heads * c.headDim, c.hiddenSize], c.attentionBias);
    return [proj('q', c.numHeads), proj('k', c.numKvHeads), proj('v', c.numKvHeads)];
  }

  /**
   * Layer i's self-attention of rows n [B·T, d], through o_proj. `flat` transforms each q, k and v projection before
   * the heads split (OLMo's clamp, OLMo-2's whole-projection norms); then Qwen3's per-head q_norm / k_norm and RoPE.
   */
  protected selfAttention(
    i: number,
    n: Value,
    seq: Sequence,
    tables: RopeTables,
    flat: FlatProjection = (t) => t,
  ): Value {
    const c = this.config;
    const w = this.weights;
    const d = c.hiddenSize;
    const hd = c.headDim;
    const p = `model.layers.${i}.self_attn`;
    const [qf, kf, vf] = this.projections(i, n);
    const heads = (t: Value, name: 'q' | 'k' | 'v', count: number) => splitHeads(seq, flat(t, name), count, hd);
    // [B, H, T, head_dim] queries or keys: q_norm / k_norm over the last axis where the model has them, then RoPE.
    const position = (t: Value, name: 'q' | 'k'): Value => {
      const normed = c.qkNorm ? rmsNorm(t, w.value(n.graph, `${p}.${name}_norm.weight`, [hd]), c.normEps) : t;
      return c.useRope[i] ? rope(normed, tables, this.rotaryDim(), c.ropeInterleaved) : normed;
    };
    const q = position(heads(qf, 'q', c.numHeads), 'q');
    const k = position(heads(kf, 'k', c.numKvHeads), 'k');
    const a = attention(seq, q, k, heads(vf, 'v', c.numKvHeads), { window: c.windows[i], cacheName: `layer${i}` });
    return linear(w, mergeHeads(a), `${p}.o_proj`, [d, c.numHeads * hd], c.outputBias);
  }

  /** Layer i's gated MLP of rows n [B·T, d]. */
  protected mlp(i: number, n: Value): Value {
    const c = this.config;
    const p = `model.layers.${i}.mlp`;
    return gatedMlp(this.weights, n, p, c.hiddenSize, c.intermediateSize, c.activation, c.mlpBias);
  }
}

/** A transform of one flat q, k or v projection [B·T, heads · head_dim], before the heads split. */
export type FlatProjection = (t: Value, name: 'q' | 'k' | 'v') => Value;

export const llama: Architecture<LlamaConfig> = {
  modelTypes: ['llama'],
  configure: configureLlama,
  create: (config, weights) => new Llama(config, weights),
};

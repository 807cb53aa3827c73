/**
 * Gemma 2 (Hugging Face Gemma2ForCausalLM), and the block Gemma 3's text model shares with it (gemma3.ts):
 * - token embeddings × √hidden_size inside the embedding lookup (the normaliser rounded to the compute dtype, float32
 *   here), so [mem] vectors, which enter as input embeddings, are not scaled;
 * - RMSNorm with (1 + w), and "sandwich" norms: input → attention → post-attention norm → residual, then
 *   pre-feedforward norm → GeGLU MLP → post-feedforward norm → residual;
 * - attention scores × query_pre_attn_scalar^−½ (not head_dim^−½), soft-capped cap · tanh(s / cap) before the mask;
 * - per-layer attention type (`layer_types`, else Gemma 2's alternation, sliding first): sliding layers let query i see
 *   keys j with i − W < j ≤ i;
 * - final logits soft-capped (Head.softcap); tied head.
 * Gemma 3 adds per-head q/k RMSNorms and per-layer-type rotary tables; both are switches of the same class.
 */
import type { Graph, Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, lmHeadName, type Architecture, type Head } from './causal-lm.ts';
import {
  activationName,
  bool,
  commonConfig,
  layerTypes,
  layerWindows,
  ModelConfigError,
  num,
  ropeSettings,
  slidingWindowSize,
  type CommonConfig,
  type LayerType,
  type RawConfig,
  type RopeSettings,
} from './config.ts';
import {
  activation,
  attention,
  linear,
  mergeHeads,
  rmsNorm,
  rope,
  ropeTables,
  splitHeads,
  type ActivationName,
} from './layers.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface GemmaConfig extends CommonConfig {
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  normEps: number;
  activation: ActivationName;
  attentionBias: boolean;
  /** Attention scores are multiplied by queryPreAttnScalar^−½. */
  queryPreAttnScalar: number;
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  slidingWindow: number | null;
  layerTypes: LayerType[];
  /** Rotary settings by layer type (Gemma 2: the same for both). */
  rope: Record<LayerType, RopeSettings>;
  /** Gemma 3: RMSNorm (1 + w) over each query and key head before the rotation. */
  qkNorm: boolean;
}

/**
 * A number field whose absence means `fallback` (Hugging Face's config class default) and whose null means "off".
 */
export function optionalNum(raw: RawConfig, key: string, where: string, fallback: number | null): number | null {
  if (!(key in raw)) return fallback;
  const v = raw[key];
  if (v === null) return null;
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  throw new ModelConfigError(`${where}: ${key} must be a positive number or null, got ${JSON.stringify(v)}`);
}

/**
 * The fields Gemma 2 and Gemma 3 read alike, with Hugging Face's config-class defaults. `rope`, `layerTypes`,
 * `qkNorm` and the soft-caps are the caller's.
 */
export function gemmaCommon(raw: RawConfig, where: string, defaults: { maxPositions: number }) {
  const hiddenSize = num(raw, ['hidden_size'], where);
  const numHeads = num(raw, ['num_attention_heads'], where);
  const common = commonConfig(raw, where, { tie: true, maxPositions: defaults.maxPositions });
  return {
    ...common,
    hiddenSize,
    numHeads,
    numKvHeads: num(raw, ['num_key_value_heads'], where, numHeads),
    headDim: num(raw, ['head_dim'], where, 256),
    intermediateSize: num(raw, ['intermediate_size'], where),
    normEps: num(raw, ['rms_norm_eps'], where, 1e-6),
    // Gemma's MLP reads `hidden_activation` (its configs may also carry an unused `hidden_act`).
    activation: activationName({ hidden_act: raw.hidden_activation ?? 'gelu_pytorch_tanh' }, where),
    attentionBias: bool(raw, 'attention_bias', false),
    queryPreAttnScalar: num(raw, ['query_pre_attn_scalar'], where, 256),
    // Absent: Hugging Face's default 4096; null: no window.
    slidingWindow: 'sliding_window' in raw ? slidingWindowSize(raw, where) : 4096,
  };
}

/** A sliding layer without a window size is a config error (the shared rule, models/config.ts). */
export function checkWindow(c: { layerTypes: LayerType[]; slidingWindow: number | null }, where: string): void {
  layerWindows(c.layerTypes, c.slidingWindow, where);
}

function configureGemma2(raw: RawConfig, where: string): GemmaConfig {
  const base = gemmaCommon(raw, where, { maxPositions: 8192 });
  const params = raw.rope_parameters;
  if (params && typeof params === 'object' && ('full_attention' in params || 'sliding_attention' in params)) {
    throw new ModelConfigError(
      `${where}: rope_parameters by layer type is not read for gemma2 (Gemma 2 has one rotary table)`,
    );
  }
  const rope = ropeSettings(raw, where);
  if (rope.partial !== 1)
    throw new ModelConfigError(`${where}: partial_rotary_factor ${rope.partial} is not supported for gemma2`);
  const c: GemmaConfig = {
    ...base,
    attnSoftcap: optionalNum(raw, 'attn_logit_softcapping', where, 50),
    finalSoftcap: optionalNum(raw, 'final_logit_softcapping', where, 30),
    // Hugging Face's default: layer i slides iff i is even.
    layerTypes: layerTypes(raw, where, base.numLayers, (i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention')),
    rope: { full_attention: rope, sliding_attention: rope },
    qkNorm: false,
  };
  checkWindow(c, where);
  return c;
}

export class Gemma extends FrozenLM<GemmaConfig> {
  /** √hidden_size as a float32, as Hugging Face rounds it to the compute dtype. */
  readonly normalizer: number;

  constructor(config: GemmaConfig, weights: Weights) {
    super(config, weights, config.hiddenSize, 'model.embed_tokens.weight', lmHeadName(config, weights));
    this.normalizer = Math.fround(Math.sqrt(config.hiddenSize));
  }

  /** Token embeddings × √hidden_size (the scaling lives in Gemma's embedding module, so [mem] vectors skip it). */
  override embed(g: Graph, ids: Value): Value {
    return op.scale(super.embed(g, ids), this.normalizer);
  }

  override head(g: Graph): Head {
    return { ...super.head(g), softcap: this.config.finalSoftcap };
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = x.graph;
    const d = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const norm = (v: Value, name: string, size = d) =>
      rmsNorm(v, w.value(g, name, [size]), c.normEps, { unitOffset: true });
    const scale = c.queryPreAttnScalar ** -0.5;
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const type = c.layerTypes[i];
      const r = c.rope[type];
      const tables = ropeTables(seq, c.headDim, r.theta, r.scaling);
      const n = norm(h, `${p}.input_layernorm.weight`);
      let q = splitHeads(seq, linear(w, n, `${p}.self_attn.q_proj`, [qDim, d], c.attentionBias), c.numHeads, c.headDim);
      let k = splitHeads(
        seq,
        linear(w, n, `${p}.self_attn.k_proj`, [kvDim, d], c.attentionBias),
        c.numKvHeads,
        c.headDim,
      );
      const v = splitHeads(
        seq,
        linear(w, n, `${p}.self_attn.v_proj`, [kvDim, d], c.attentionBias),
        c.numKvHeads,
        c.headDim,
      );
      if (c.qkNorm) {
        q = norm(q, `${p}.self_attn.q_norm.weight`, c.headDim);
        k = norm(k, `${p}.self_attn.k_norm.weight`, c.headDim);
      }
      q = rope(q, tables, c.headDim);
      k = rope(k, tables, c.headDim);
      const a = attention(seq, q, k, v, {
        cacheName: `layer${i}`,
        scale,
        softcap: c.attnSoftcap,
        window: type === 'sliding_attention' ? c.slidingWindow : null,
      });
      const o = linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim], c.attentionBias);
      h = op.add(h, norm(o, `${p}.post_attention_layernorm.weight`));
      const n2 = norm(h, `${p}.pre_feedforward_layernorm.weight`);
      const gate = activation(c.activation, linear(w, n2, `${p}.mlp.gate_proj`, [c.intermediateSize, d]));
      const mlp = linear(
        w,
        op.mul(gate, linear(w, n2, `${p}.mlp.up_proj`, [c.intermediateSize, d])),
        `${p}.mlp.down_proj`,
        [d, c.intermediateSize],
      );
      h = op.add(h, norm(mlp, `${p}.post_feedforward_layernorm.weight`));
    }
    h = norm(h, 'model.norm.weight');
    return op.reshape(h, seq.shape([d]));
  }
}

export const gemma2: Architecture<GemmaConfig> = {
  modelTypes: ['gemma2'],
  configure: configureGemma2,
  create: (config, weights) => new Gemma(config, weights),
};

/**
 * OLMo (Hugging Face OlmoForCausalLM; the paper's OLMo-1B as allenai/OLMo-1B-hf and OLMo-1B-0724-hf): Llama's layout
 * with non-parametric LayerNorm (no weight, no bias, eps 1e-5, also the final norm) in place of RMSNorm, and
 * `clip_qkv`: the q, k and v projections are clamped to [−clip_qkv, clip_qkv] before the heads are split and RoPE is
 * applied. Optional attention_bias; untied by default.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { ModelConfigError, type RawConfig } from './config.ts';
import { attention, clampSymmetric, gatedMlp, layerNorm, linear, mergeHeads, rope, ropeTables, splitHeads } from './layers.ts';
import { configureLlama, type LlamaConfig } from './llama.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface OlmoConfig extends LlamaConfig {
  /** Clamp of the q, k, v projections; null: none. */
  clipQkv: number | null;
}

/** OlmoLayerNorm's fixed epsilon (the config has no field for it). */
const OLMO_LAYER_NORM_EPS = 1e-5;

function configure(raw: RawConfig, where: string): OlmoConfig {
  const clip = raw.clip_qkv;
  if (clip !== undefined && clip !== null && !(typeof clip === 'number' && clip > 0)) throw new ModelConfigError(`${where}: clip_qkv ${JSON.stringify(clip)} is not a positive number`);
  return { ...configureLlama(raw, where), normEps: OLMO_LAYER_NORM_EPS, mlpBias: false, ropeInterleaved: false, clipQkv: typeof clip === 'number' ? clip : null };
}

export class Olmo extends FrozenLM<OlmoConfig> {
  constructor(config: OlmoConfig, weights: Weights) {
    const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
    super(config, weights, config.hiddenSize, 'model.embed_tokens.weight', tied ? null : 'lm_head.weight');
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const d = c.hiddenSize;
    const hd = c.headDim;
    const qDim = c.numHeads * hd;
    const kvDim = c.numKvHeads * hd;
    const bias = c.attentionBias;
    const norm = (t: Value) => layerNorm(t, null, null, c.normEps);
    const clip = (t: Value) => (c.clipQkv === null ? t : clampSymmetric(t, c.clipQkv));
    const tables = ropeTables(seq, hd, c.rope.theta, c.rope.scaling);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const n = norm(h);
      const q = rope(splitHeads(seq, clip(linear(w, n, `${p}.self_attn.q_proj`, [qDim, d], bias)), c.numHeads, hd), tables, hd);
      const k = rope(splitHeads(seq, clip(linear(w, n, `${p}.self_attn.k_proj`, [kvDim, d], bias)), c.numKvHeads, hd), tables, hd);
      const v = splitHeads(seq, clip(linear(w, n, `${p}.self_attn.v_proj`, [kvDim, d], bias)), c.numKvHeads, hd);
      const a = attention(seq, q, k, v, { cacheName: `layer${i}` });
      h = op.add(h, linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim], bias));
      h = op.add(h, gatedMlp(w, norm(h), `${p}.mlp`, d, c.intermediateSize, c.activation));
    }
    return op.reshape(norm(h), seq.shape([d]));
  }
}

export const olmo: Architecture<OlmoConfig> = {
  modelTypes: ['olmo'],
  configure,
  create: (config, weights) => new Olmo(config, weights),
};

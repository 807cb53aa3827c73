/**
 * OLMo (Hugging Face OlmoForCausalLM; the paper's OLMo-1B as allenai/OLMo-1B-hf and OLMo-1B-0724-hf): Llama's layout
 * with non-parametric LayerNorm (no weight, no bias, eps 1e-5, also the final norm) in place of RMSNorm, and
 * `clip_qkv`: the q, k and v projections are clamped to [−clip_qkv, clip_qkv] before the heads are split and RoPE is
 * applied. Optional attention_bias; untied by default. Attention and MLP are Llama's (llama.ts).
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import type { Architecture } from './causal-lm.ts';
import { ModelConfigError, type RawConfig } from './config.ts';
import { clampSymmetric, layerNorm } from './layers.ts';
import { configureLlama, Llama, type LlamaConfig } from './llama.ts';
import type { Sequence } from './sequence.ts';

export interface OlmoConfig extends LlamaConfig {
  /** Clamp of the q, k, v projections; null: none. */
  clipQkv: number | null;
}

/** OlmoLayerNorm's fixed epsilon (the config has no field for it). */
const OLMO_LAYER_NORM_EPS = 1e-5;

function configure(raw: RawConfig, where: string): OlmoConfig {
  const clip = raw.clip_qkv;
  if (clip !== undefined && clip !== null && !(typeof clip === 'number' && clip > 0))
    throw new ModelConfigError(`${where}: clip_qkv ${JSON.stringify(clip)} is not a positive number`);
  return {
    ...configureLlama(raw, where),
    normEps: OLMO_LAYER_NORM_EPS,
    mlpBias: false,
    ropeInterleaved: false,
    clipQkv: typeof clip === 'number' ? clip : null,
  };
}

export class Olmo extends Llama<OlmoConfig> {
  override hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const norm = (t: Value) => layerNorm(t, null, null, c.normEps);
    const clip = (t: Value) => (c.clipQkv === null ? t : clampSymmetric(t, c.clipQkv));
    const tables = this.ropeTables(seq);
    let h = op.reshape(x, [-1, c.hiddenSize]);
    for (let i = 0; i < c.numLayers; i++) {
      h = op.add(h, this.selfAttention(i, norm(h), seq, tables, clip));
      h = op.add(h, this.mlp(i, norm(h)));
    }
    return op.reshape(norm(h), seq.shape([c.hiddenSize]));
  }
}

export const olmo: Architecture<OlmoConfig> = {
  modelTypes: ['olmo'],
  configure,
  create: (config, weights) => new Olmo(config, weights),
};

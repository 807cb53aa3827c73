/**
 * SmolLM3 (Hugging Face SmolLM3ForCausalLM): Llama's layout with NoPE layers: `no_rope_layers[i]` is 1 where layer i
 * applies RoPE and 0 where it uses no position encoding at all (default: every `no_rope_layer_interval`-th layer,
 * counting from 1, is NoPE). Optional attention_bias / mlp_bias, tied embeddings by default. Sliding windows as the
 * masks transformers builds: layers whose `layer_types` entry is "sliding_attention" (by default NoPE layers when
 * `use_sliding_window` and `sliding_window` are set).
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { bool, ConfigError, layerTypes, layerWindows, num, slidingWindowSize, type RawConfig } from './config.ts';
import { attention, gatedMlp, linear, mergeHeads, rmsNorm, rope, ropeTables, splitHeads } from './layers.ts';
import { configureLlama, type LlamaConfig } from './llama.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface SmolLM3Config extends LlamaConfig {
  /** Per layer: whether it applies RoPE (false: a NoPE layer). */
  useRope: boolean[];
  /** Per layer: keys each query sees (itself included), or null for full causal attention. */
  windows: (number | null)[];
}

function configure(raw: RawConfig, where: string): SmolLM3Config {
  const base = configureLlama(raw, where);
  const n = base.numLayers;
  let useRope: boolean[];
  if (raw.no_rope_layers === undefined || raw.no_rope_layers === null) {
    const interval = num(raw, ['no_rope_layer_interval'], where, 4);
    useRope = Array.from({ length: n }, (_, i) => (i + 1) % interval !== 0);
  } else {
    const list = raw.no_rope_layers;
    if (!Array.isArray(list) || list.length < n || !list.slice(0, n).every((v) => v === 0 || v === 1 || typeof v === 'boolean')) {
      throw new ConfigError(`${where}: no_rope_layers must list 1 (RoPE) or 0 (NoPE) for each of the ${n} layers`);
    }
    useRope = list.slice(0, n).map((v: number | boolean) => v === 1 || v === true);
  }
  const window = slidingWindowSize(raw, where);
  const slideByDefault = bool(raw, 'use_sliding_window', false) && window !== null;
  const types = layerTypes(raw, where, n, (i) => (slideByDefault && !useRope[i] ? 'sliding_attention' : 'full_attention'));
  return {
    ...base,
    tieWordEmbeddings: bool(raw, 'tie_word_embeddings', true), // SmolLM3Config's default
    ropeInterleaved: false,
    useRope,
    windows: layerWindows(types, window, where),
  };
}

export class SmolLM3 extends FrozenLM<SmolLM3Config> {
  constructor(config: SmolLM3Config, weights: Weights) {
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
    const tables = ropeTables(seq, hd, c.rope.theta, c.rope.scaling);
    const pos = (i: number, t: Value) => (c.useRope[i] ? rope(t, tables, hd) : t);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const n = rmsNorm(h, w.value(g, `${p}.input_layernorm.weight`, [d]), c.normEps);
      const q = pos(i, splitHeads(seq, linear(w, n, `${p}.self_attn.q_proj`, [qDim, d], c.attentionBias), c.numHeads, hd));
      const k = pos(i, splitHeads(seq, linear(w, n, `${p}.self_attn.k_proj`, [kvDim, d], c.attentionBias), c.numKvHeads, hd));
      const v = splitHeads(seq, linear(w, n, `${p}.self_attn.v_proj`, [kvDim, d], c.attentionBias), c.numKvHeads, hd);
      const a = attention(seq, q, k, v, { window: c.windows[i], cacheName: `layer${i}` });
      h = op.add(h, linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim], c.attentionBias));
      const n2 = rmsNorm(h, w.value(g, `${p}.post_attention_layernorm.weight`, [d]), c.normEps);
      h = op.add(h, gatedMlp(w, n2, `${p}.mlp`, d, c.intermediateSize, c.activation, c.mlpBias));
    }
    h = rmsNorm(h, w.value(g, 'model.norm.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }
}

export const smollm3: Architecture<SmolLM3Config> = {
  modelTypes: ['smollm3'],
  configure,
  create: (config, weights) => new SmolLM3(config, weights),
};

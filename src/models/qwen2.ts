/**
 * Qwen2 / Qwen2.5 (Hugging Face Qwen2ForCausalLM): Llama's layout with biases on the q, k and v projections (none on
 * o_proj or the MLP). Sliding-window attention only where the config asks for it, as transformers reads it:
 * `sliding_window` counts only when `use_sliding_window` is true, and then, unless `layer_types` lists each layer's
 * type, layers from `max_window_layers` on slide.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { bool, layerTypes, layerWindows, num, slidingWindowSize, type RawConfig } from './config.ts';
import { attention, gatedMlp, linear, mergeHeads, rmsNorm, rope, ropeTables, splitHeads } from './layers.ts';
import { configureLlama, type LlamaConfig } from './llama.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface Qwen2Config extends LlamaConfig {
  /** Per layer: keys each query sees (itself included), or null for full causal attention. */
  windows: (number | null)[];
}

/**
 * The per-layer windows of Qwen2 and Qwen3 (their configs read `sliding_window`, `use_sliding_window`,
 * `max_window_layers` and `layer_types` the same way).
 */
export function qwenLayerWindows(raw: RawConfig, where: string, numLayers: number): (number | null)[] {
  const window = bool(raw, 'use_sliding_window', false) ? slidingWindowSize(raw, where) : null;
  const maxWindowLayers = num(raw, ['max_window_layers'], where, 28);
  const types = layerTypes(raw, where, numLayers, (i) => (window !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention'));
  return layerWindows(types, window, where);
}

function configure(raw: RawConfig, where: string): Qwen2Config {
  const base = configureLlama(raw, where);
  return {
    ...base,
    attentionBias: true, // q, k, v only (Qwen2Attention)
    mlpBias: false,
    ropeInterleaved: false,
    windows: qwenLayerWindows(raw, where, base.numLayers),
  };
}

export class Qwen2 extends FrozenLM<Qwen2Config> {
  constructor(config: Qwen2Config, weights: Weights) {
    const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
    super(config, weights, config.hiddenSize, 'model.embed_tokens.weight', tied ? null : 'lm_head.weight');
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = x.graph;
    const d = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const tables = ropeTables(seq, c.headDim, c.rope.theta, c.rope.scaling);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const n = rmsNorm(h, w.value(g, `${p}.input_layernorm.weight`, [d]), c.normEps);
      const q = rope(splitHeads(seq, linear(w, n, `${p}.self_attn.q_proj`, [qDim, d], true), c.numHeads, c.headDim), tables, c.headDim);
      const k = rope(splitHeads(seq, linear(w, n, `${p}.self_attn.k_proj`, [kvDim, d], true), c.numKvHeads, c.headDim), tables, c.headDim);
      const v = splitHeads(seq, linear(w, n, `${p}.self_attn.v_proj`, [kvDim, d], true), c.numKvHeads, c.headDim);
      const a = attention(seq, q, k, v, { window: c.windows[i], cacheName: `layer${i}` });
      h = op.add(h, linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim]));
      const n2 = rmsNorm(h, w.value(g, `${p}.post_attention_layernorm.weight`, [d]), c.normEps);
      h = op.add(h, gatedMlp(w, n2, `${p}.mlp`, d, c.intermediateSize, c.activation));
    }
    h = rmsNorm(h, w.value(g, 'model.norm.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }
}

export const qwen2: Architecture<Qwen2Config> = {
  modelTypes: ['qwen2'],
  configure,
  create: (config, weights) => new Qwen2(config, weights),
};

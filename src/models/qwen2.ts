/**
 * Qwen2 / Qwen2.5 (Hugging Face Qwen2ForCausalLM): Llama's layout with biases on the q, k and v projections (none on
 * o_proj or the MLP). Sliding-window attention only where the config asks for it, as transformers reads it:
 * `sliding_window` counts only when `use_sliding_window` is true, and then, unless `layer_types` lists each layer's
 * type, layers from `max_window_layers` on slide. The decoder is Llama's (llama.ts); this file reads the config.
 */
import type { Architecture } from './causal-lm.ts';
import { bool, layerTypes, layerWindows, num, slidingWindowSize, type RawConfig } from './config.ts';
import { configureLlama, Llama, type LlamaConfig } from './llama.ts';

export type Qwen2Config = LlamaConfig;

/**
 * The per-layer windows of Qwen2 and Qwen3 (their configs read `sliding_window`, `use_sliding_window`,
 * `max_window_layers` and `layer_types` the same way).
 */
export function qwenLayerWindows(raw: RawConfig, where: string, numLayers: number): (number | null)[] {
  const window = bool(raw, 'use_sliding_window', false) ? slidingWindowSize(raw, where) : null;
  const maxWindowLayers = num(raw, ['max_window_layers'], where, 28);
  const types = layerTypes(raw, where, numLayers, (i) =>
    window !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention',
  );
  return layerWindows(types, window, where);
}

function configure(raw: RawConfig, where: string): Qwen2Config {
  const base = configureLlama(raw, where);
  return {
    ...base,
    attentionBias: true, // q, k, v only (Qwen2Attention)
    outputBias: false,
    mlpBias: false,
    ropeInterleaved: false,
    windows: qwenLayerWindows(raw, where, base.numLayers),
  };
}

export const qwen2: Architecture<Qwen2Config> = {
  modelTypes: ['qwen2'],
  configure,
  create: (config, weights) => new Llama(config, weights),
};

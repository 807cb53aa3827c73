/**
 * Mistral (Hugging Face MistralForCausalLM): Llama's layout (RMSNorm, RoPE, SwiGLU, grouped-query attention, no
 * biases) with a sliding window of `sliding_window` keys in every layer (query i sees key j iff i − W < j ≤ i);
 * `sliding_window: null` is full causal attention. Mistral ignores `layer_types` (Ministral reads it). The decoder is
 * Llama's (llama.ts); this file reads the config.
 */
import type { Architecture } from './causal-lm.ts';
import { slidingWindowSize, type RawConfig } from './config.ts';
import { configureLlama, Llama, type LlamaConfig } from './llama.ts';

export type MistralConfig = LlamaConfig;

function configure(raw: RawConfig, where: string): MistralConfig {
  const base = configureLlama(raw, where);
  const window = slidingWindowSize(raw, where);
  // MistralAttention and MistralMLP have no biases whatever the file says.
  return {
    ...base,
    attentionBias: false,
    outputBias: false,
    mlpBias: false,
    ropeInterleaved: false,
    windows: Array.from({ length: base.numLayers }, () => window),
  };
}

export const mistral: Architecture<MistralConfig> = {
  modelTypes: ['mistral'],
  configure,
  create: (config, weights) => new Llama(config, weights),
};

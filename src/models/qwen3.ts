/**
 * Qwen3 dense (Hugging Face Qwen3ForCausalLM): Llama's layout plus a per-head RMSNorm on queries and keys (q_norm,
 * k_norm over head_dim, before RoPE); head_dim is its own setting (default 128), so heads × head_dim need not equal
 * hidden_size; optional attention_bias on all four projections. Sliding windows read as Qwen2 reads them. The
 * decoder is Llama's (llama.ts, with `qkNorm`); this file reads the config.
 */
import type { Architecture } from './causal-lm.ts';
import { num, type RawConfig } from './config.ts';
import { configureLlama, Llama, type LlamaConfig } from './llama.ts';
import { qwenLayerWindows } from './qwen2.ts';

export type Qwen3Config = LlamaConfig;

function configure(raw: RawConfig, where: string): Qwen3Config {
  const base = configureLlama(raw, where);
  return {
    ...base,
    headDim: num(raw, ['head_dim'], where, 128), // Qwen3Config's default, not hidden_size / heads
    mlpBias: false,
    ropeInterleaved: false,
    windows: qwenLayerWindows(raw, where, base.numLayers),
    qkNorm: true,
  };
}

export const qwen3: Architecture<Qwen3Config> = {
  modelTypes: ['qwen3'],
  configure,
  create: (config, weights) => new Llama(config, weights),
};

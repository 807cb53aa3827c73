/**
 * SmolLM3 (Hugging Face SmolLM3ForCausalLM): Llama's layout with NoPE layers: `no_rope_layers[i]` is 1 where layer i
 * applies RoPE and 0 where it uses no position encoding at all (default: every `no_rope_layer_interval`-th layer,
 * counting from 1, is NoPE). Optional attention_bias / mlp_bias, tied embeddings by default. Sliding windows as the
 * masks transformers builds: layers whose `layer_types` entry is "sliding_attention" (by default NoPE layers when
 * `use_sliding_window` and `sliding_window` are set). The decoder is Llama's (llama.ts); this file reads the config.
 */
import type { Architecture } from './causal-lm.ts';
import { bool, ModelConfigError, layerTypes, layerWindows, num, slidingWindowSize, type RawConfig } from './config.ts';
import { configureLlama, Llama, type LlamaConfig } from './llama.ts';

export type SmolLM3Config = LlamaConfig;

function configure(raw: RawConfig, where: string): SmolLM3Config {
  const base = configureLlama(raw, where);
  const n = base.numLayers;
  let useRope: boolean[];
  if (raw.no_rope_layers === undefined || raw.no_rope_layers === null) {
    const interval = num(raw, ['no_rope_layer_interval'], where, 4);
    useRope = Array.from({ length: n }, (_, i) => (i + 1) % interval !== 0);
  } else {
    const list = raw.no_rope_layers;
    if (
      !Array.isArray(list) ||
      list.length < n ||
      !list.slice(0, n).every((v) => v === 0 || v === 1 || typeof v === 'boolean')
    ) {
      throw new ModelConfigError(`${where}: no_rope_layers must list 1 (RoPE) or 0 (NoPE) for each of the ${n} layers`);
    }
    useRope = list.slice(0, n).map((v: number | boolean) => v === 1 || v === true);
  }
  const window = slidingWindowSize(raw, where);
  const slideByDefault = bool(raw, 'use_sliding_window', false) && window !== null;
  const types = layerTypes(raw, where, n, (i) =>
    slideByDefault && !useRope[i] ? 'sliding_attention' : 'full_attention',
  );
  return {
    ...base,
    tieWordEmbeddings: bool(raw, 'tie_word_embeddings', true), // SmolLM3Config's default
    ropeInterleaved: false,
    useRope,
    windows: layerWindows(types, window, where),
  };
}

export const smollm3: Architecture<SmolLM3Config> = {
  modelTypes: ['smollm3'],
  configure,
  create: (config, weights) => new Llama(config, weights),
};

/**
 * Gemma 3 text (Hugging Face Gemma3ForCausalLM, model_type gemma3_text): Gemma 2's block (gemma2.ts) without the
 * attention soft-cap, plus per-head q/k RMSNorm (1 + w) before the rotation and rotary tables by layer type — sliding
 * layers use the local base frequency, full layers the global one with its scaling (e.g. linear ×8). The sliding
 * pattern is `layer_types`, else every `sliding_window_pattern`-th layer (default 6) is full.
 */
import type { Architecture } from './causal-lm.ts';
import {
  layerTypes,
  ModelConfigError,
  num,
  ropeSettings,
  type LayerType,
  type RawConfig,
  type RopeSettings,
} from './config.ts';
import { checkWindow, Gemma, gemmaCommon, optionalNum, type GemmaConfig } from './gemma2.ts';

/**
 * Rotary settings by layer type, from transformers 5's `rope_parameters: {full_attention: {…}, sliding_attention: {…}}`
 * or transformers 4's `rope_theta` + `rope_scaling` (global) and `rope_local_base_freq` (local, no scaling).
 */
function gemma3Rope(raw: RawConfig, where: string): Record<LayerType, RopeSettings> {
  const params = raw.rope_parameters;
  let out: Record<LayerType, RopeSettings>;
  if (params && typeof params === 'object' && ('full_attention' in params || 'sliding_attention' in params)) {
    for (const t of ['full_attention', 'sliding_attention']) {
      if (!params[t] || typeof params[t] !== 'object')
        throw new ModelConfigError(`${where}: rope_parameters lacks "${t}"`);
    }
    out = {
      full_attention: ropeSettings(raw, `${where} rope_parameters.full_attention`, params.full_attention),
      sliding_attention: ropeSettings(raw, `${where} rope_parameters.sliding_attention`, params.sliding_attention),
    };
  } else {
    const global = ropeSettings({ rope_theta: 1_000_000, ...raw }, where);
    out = {
      full_attention: global,
      sliding_attention: { theta: num(raw, ['rope_local_base_freq'], where, 10_000), scaling: null, partial: 1 },
    };
  }
  for (const [t, r] of Object.entries(out)) {
    if (r.partial !== 1)
      throw new ModelConfigError(
        `${where}: partial_rotary_factor ${r.partial} (${t}) is not supported for gemma3_text`,
      );
  }
  return out;
}

function configure(raw: RawConfig, where: string): GemmaConfig {
  const base = gemmaCommon(raw, where, { maxPositions: 131_072 });
  // Hugging Face's Gemma 3 attention does not apply attn_logit_softcapping (its configs leave it null): refuse a value
  // rather than silently differ from one reading or the other.
  if (optionalNum(raw, 'attn_logit_softcapping', where, null) !== null) {
    throw new ModelConfigError(
      `${where}: attn_logit_softcapping ${raw.attn_logit_softcapping} is not supported for gemma3_text (Hugging Face's Gemma 3 ignores it; set it to null)`,
    );
  }
  if (raw.use_bidirectional_attention === true) {
    throw new ModelConfigError(
      `${where}: use_bidirectional_attention true is not supported (the harness needs a causal model)`,
    );
  }
  const pattern = num(raw, ['sliding_window_pattern', '_sliding_window_pattern'], where, 6);
  const c: GemmaConfig = {
    ...base,
    attnSoftcap: null,
    finalSoftcap: optionalNum(raw, 'final_logit_softcapping', where, null),
    layerTypes: layerTypes(raw, where, base.numLayers, (i) =>
      (i + 1) % pattern ? 'sliding_attention' : 'full_attention',
    ),
    rope: gemma3Rope(raw, where),
    qkNorm: true,
  };
  checkWindow(c, where);
  return c;
}

export const gemma3Text: Architecture<GemmaConfig> = {
  modelTypes: ['gemma3_text'],
  configure,
  create: (config, weights) => new Gemma(config, weights),
};

/**
 * Reading Hugging Face `config.json` files, whichever transformers version wrote them (v4: top-level `rope_theta`,
 * `torch_dtype`; v5: `rope_parameters`, `dtype`). Each architecture reads its own fields (in its own file) with these
 * helpers; the fields every architecture has are read here once.
 */

export type RawConfig = Record<string, any>;

export class ModelConfigError extends Error {}

/** The first numeric value among `keys`, else `fallback`, else an error naming the file and the keys. */
export function num(raw: RawConfig, keys: string[], where: string, fallback?: number): number {
  for (const k of keys) if (typeof raw[k] === 'number' && Number.isFinite(raw[k])) return raw[k];
  if (fallback !== undefined) return fallback;
  throw new ModelConfigError(`${where}: lacks ${keys.join(' / ')}`);
}

export function bool(raw: RawConfig, key: string, fallback: boolean): boolean {
  return typeof raw[key] === 'boolean' ? raw[key] : fallback;
}

function firstId(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  return null;
}

/** What every architecture's config has. */
export interface CommonConfig {
  modelType: string;
  vocabSize: number;
  /** Longest sequence ([mem] + text) the model accepts (Infinity for recurrent models without a limit). */
  maxPositions: number;
  numLayers: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
  /** The weights' own dtype (informational: the harness computes in float32). */
  dtype: string;
}

export function commonConfig(
  raw: RawConfig,
  where: string,
  defaults: { tie: boolean; maxPositions?: number },
): CommonConfig {
  return {
    modelType: String(raw.model_type),
    vocabSize: num(raw, ['vocab_size'], where),
    maxPositions: num(raw, ['max_position_embeddings', 'n_positions'], where, defaults.maxPositions ?? 2048),
    numLayers: num(raw, ['num_hidden_layers', 'n_layer'], where),
    tieWordEmbeddings: bool(raw, 'tie_word_embeddings', defaults.tie),
    bosTokenId: firstId(raw.bos_token_id),
    eosTokenId: firstId(raw.eos_token_id),
    dtype: String(raw.dtype ?? raw.torch_dtype ?? 'float32'),
  };
}

/** Rotary frequency scaling: Llama-3's "llama3" and plain "linear" (position interpolation). */
export type RopeScaling =
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositions: number;
      attentionFactor?: number;
    }
  | { type: 'linear'; factor: number; attentionFactor?: number };

export interface RopeSettings {
  theta: number;
  scaling: RopeScaling | null;
  /** Fraction of each head that rotates (GPT-NeoX rotary_pct, partial_rotary_factor). */
  partial: number;
}

/** Rotary settings from either layout (v5 `rope_parameters`, v4 top-level `rope_theta` + `rope_scaling`). */
export function ropeSettings(
  raw: RawConfig,
  where: string,
  params: RawConfig | undefined = raw.rope_parameters ?? raw.rope_scaling ?? undefined,
): RopeSettings {
  const rope = (params ?? {}) as RawConfig;
  const theta =
    typeof rope.rope_theta === 'number' ? rope.rope_theta : num(raw, ['rope_theta', 'rotary_emb_base'], where, 10000);
  const type = rope.rope_type ?? rope.type ?? 'default';
  let scaling: RopeScaling | null = null;
  if (type === 'llama3') {
    scaling = {
      type: 'llama3',
      factor: num(rope, ['factor'], `${where} rope llama3`),
      lowFreqFactor: num(rope, ['low_freq_factor'], `${where} rope llama3`),
      highFreqFactor: num(rope, ['high_freq_factor'], `${where} rope llama3`),
      originalMaxPositions: num(rope, ['original_max_position_embeddings'], `${where} rope llama3`),
    };
  } else if (type === 'linear') {
    scaling = { type: 'linear', factor: num(rope, ['factor'], `${where} rope linear`) };
  } else if (type !== 'default') {
    throw new ModelConfigError(`${where}: rope_type "${type}" is not supported (default, linear and llama3 are)`);
  }
  const partial =
    typeof rope.partial_rotary_factor === 'number'
      ? rope.partial_rotary_factor
      : num(raw, ['partial_rotary_factor', 'rotary_pct'], where, 1);
  return { theta, scaling, partial };
}

/** Hugging Face activation names → ours. */
export function activationName(
  raw: RawConfig,
  where: string,
  fallback = 'silu',
): 'silu' | 'gelu' | 'gelu_new' | 'gelu_tanh' | 'relu' {
  const name = String(raw.hidden_act ?? raw.hidden_activation ?? raw.activation_function ?? fallback);
  const map: Record<string, 'silu' | 'gelu' | 'gelu_new' | 'gelu_tanh' | 'relu'> = {
    silu: 'silu',
    swish: 'silu',
    gelu: 'gelu',
    gelu_new: 'gelu_new',
    gelu_pytorch_tanh: 'gelu_tanh',
    gelu_fast: 'gelu_new',
    relu: 'relu',
  };
  const a = map[name];
  if (!a)
    throw new ModelConfigError(`${where}: activation "${name}" is not supported (${Object.keys(map).join(', ')})`);
  return a;
}

// ---- per-layer attention settings (every architecture with layer types or sliding windows reads them here)

export type LayerType = 'full_attention' | 'sliding_attention';

/** `sliding_window` as a number, or null when absent or null. */
export function slidingWindowSize(raw: RawConfig, where: string): number | null {
  const w = raw.sliding_window;
  if (w === undefined || w === null) return null;
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1)
    throw new ModelConfigError(`${where}: sliding_window ${JSON.stringify(w)} is not a positive integer`);
  return w;
}

/**
 * Each layer's attention type from `layer_types` (Hugging Face v5; "attention" is the legacy name of
 * "full_attention"), else the architecture's own default for layer i. As transformers' layer_type_validation: one
 * entry per layer, no more, no fewer. Other types (chunked, linear…) throw.
 */
export function layerTypes(
  raw: RawConfig,
  where: string,
  numLayers: number,
  fallback: (layer: number) => LayerType,
): LayerType[] {
  const given = raw.layer_types;
  if (given === undefined || given === null) return Array.from({ length: numLayers }, (_, i) => fallback(i));
  if (!Array.isArray(given) || given.length !== numLayers) {
    throw new ModelConfigError(
      `${where}: layer_types must list one type per layer (${numLayers}), got ${JSON.stringify(given)}`,
    );
  }
  return given.map((t: unknown, i: number) => {
    if (t === 'full_attention' || t === 'attention') return 'full_attention';
    if (t === 'sliding_attention') return 'sliding_attention';
    throw new ModelConfigError(
      `${where}: layer_types[${i}] "${String(t)}" is not supported (full_attention, sliding_attention)`,
    );
  });
}

/**
 * Per-layer sliding windows as Hugging Face's masks make them: a "sliding_attention" layer sees the last `window`
 * keys (query i sees key j iff i − W < j ≤ i), a "full_attention" layer all earlier keys. A sliding layer without a
 * window is an error (transformers raises too).
 */
export function layerWindows(types: LayerType[], window: number | null, where: string): (number | null)[] {
  return types.map((t, i) => {
    if (t === 'full_attention') return null;
    if (window === null)
      throw new ModelConfigError(
        `${where}: layer_types[${i}] is "sliding_attention" but sliding_window is not set (or use_sliding_window is false)`,
      );
    return window;
  });
}

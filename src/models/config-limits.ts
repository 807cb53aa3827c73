/**
 * Sane bounds on a model config's sizes, checked from the raw config.json object before any architecture reads it
 * (so before anything is sized from it): each size field must be a positive integer within a bound far above any
 * real model, rotary bases must be positive and finite, and the float32 weights the config implies must fit under a
 * memory ceiling. A hostile `num_hidden_layers: 1e9` or `hidden_size: 1e9` is refused in microseconds with one line
 * naming the file and the field. No tensor code: `cram check` and planning use it.
 */
import { ModelConfigError, type RawConfig } from './config.ts';

/** Upper bounds per kind of size (real models are at least 8× below each). */
export const CONFIG_LIMITS = {
  layers: 1024,
  width: 131_072,
  heads: 16_384,
  headDim: 16_384,
  vocab: 4_194_304,
  intermediate: 1_048_576,
  positions: 1 << 26,
  small: 65_536,
} as const;

/** Field names by kind (every alias an architecture reads). */
const FIELDS: Record<keyof typeof CONFIG_LIMITS, string[]> = {
  layers: ['num_hidden_layers', 'n_layer', 'num_layers'],
  width: ['hidden_size', 'n_embd', 'd_model', 'word_embed_proj_dim'],
  heads: ['num_attention_heads', 'n_head', 'num_key_value_heads', 'num_heads', 'n_groups'],
  headDim: ['head_dim'],
  vocab: ['vocab_size'],
  intermediate: ['intermediate_size', 'ffn_dim', 'n_inner'],
  positions: ['max_position_embeddings', 'n_positions'],
  small: [
    'state_size',
    'd_state',
    'conv_kernel',
    'd_conv',
    'time_step_rank',
    'sliding_window_pattern',
    'no_rope_layer_interval',
  ],
};

/**
 * Float32 weight bytes above which a config is taken as damaged or hostile: CRAM_MEMORY_CEILING_GIB, else 4 TiB (a
 * 1T-parameter model). A sanity bound only, not "does it fit here": that is the memory plan's question (limits.ts,
 * per backend and precision), so a laptop can still plan a model it cannot hold.
 */
export const DEFAULT_CEILING_BYTES = 4 * 2 ** 40;
export function memoryCeilingBytes(): number {
  const env = Number(process.env.CRAM_MEMORY_CEILING_GIB);
  return Number.isFinite(env) && env > 0 ? env * 2 ** 30 : DEFAULT_CEILING_BYTES;
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;

function first(raw: RawConfig, keys: string[]): { key: string; value: number } | null {
  for (const key of keys) if (typeof raw[key] === 'number') return { key, value: raw[key] };
  return null;
}

/** Rotary bases anywhere they may be (top level, rope_parameters / rope_scaling, per layer type): positive, finite. */
function checkRopeBases(raw: RawConfig, where: string): void {
  const check = (v: unknown, field: string) => {
    if (v === undefined || v === null) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new ModelConfigError(`${where}: ${field} ${JSON.stringify(v)} must be a positive finite number`);
    }
  };
  for (const k of ['rope_theta', 'rotary_emb_base', 'rope_local_base_freq']) check(raw[k], k);
  for (const top of ['rope_parameters', 'rope_scaling']) {
    const p = raw[top];
    if (!p || typeof p !== 'object') continue;
    check(p.rope_theta, `${top}.rope_theta`);
    for (const [k, sub] of Object.entries(p)) {
      if (sub && typeof sub === 'object' && !Array.isArray(sub))
        check((sub as RawConfig).rope_theta, `${top}.${k}.rope_theta`);
    }
  }
}

/** transformers 5 reads `rope_parameters` and ignores `rope_scaling`: when both are given and differ, refuse. */
function checkRopeConflict(raw: RawConfig, where: string): void {
  const p = raw.rope_parameters;
  const s = raw.rope_scaling;
  if (!p || !s || typeof p !== 'object' || typeof s !== 'object') return;
  const type = (r: RawConfig) => String(r.rope_type ?? r.type ?? 'default');
  const same = type(p) === type(s) && (s.factor === undefined || s.factor === p.factor);
  if (!same) {
    throw new ModelConfigError(
      `${where}: rope_scaling (${type(s)}${s.factor === undefined ? '' : ` ×${s.factor}`}) conflicts with ` +
        `rope_parameters (${type(p)}${p.factor === undefined ? '' : ` ×${p.factor}`}); keep one of them`,
    );
  }
}

/**
 * Throws a ModelConfigError naming `where` and the field when a size is not a positive integer, is above its bound, or
 * the implied float32 weights exceed the memory ceiling. Absent or null fields are left to the architecture's reader.
 */
export function checkConfigLimits(raw: RawConfig, where: string, ceiling = memoryCeilingBytes()): void {
  for (const [kind, keys] of Object.entries(FIELDS) as [keyof typeof CONFIG_LIMITS, string[]][]) {
    const max = CONFIG_LIMITS[kind];
    for (const key of keys) {
      const v = raw[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number') {
        if (key === 'time_step_rank' && v === 'auto') continue;
        throw new ModelConfigError(`${where}: ${key} ${JSON.stringify(v).slice(0, 40)} must be a number`);
      }
      if (!Number.isInteger(v) || v < 1) throw new ModelConfigError(`${where}: ${key} ${v} must be a positive integer`);
      if (v > max)
        throw new ModelConfigError(
          `${where}: ${key} ${v} is above the sane bound ${max} (a damaged or hostile config?)`,
        );
    }
  }
  const expand = raw.expand;
  if (expand !== undefined && expand !== null && !(typeof expand === 'number' && expand > 0 && expand <= 64)) {
    throw new ModelConfigError(`${where}: expand ${JSON.stringify(expand).slice(0, 40)} must be a number in (0, 64]`);
  }
  checkRopeBases(raw, where);
  checkRopeConflict(raw, where);
  // float32 weights the config implies (a lower estimate: embedding, head unless tied, and per layer attention + MLP).
  const layers = first(raw, FIELDS.layers);
  const width = first(raw, FIELDS.width);
  const vocab = first(raw, FIELDS.vocab);
  if (!width) return;
  const d = width.value;
  const inter = first(raw, FIELDS.intermediate)?.value ?? 2 * d;
  const heads = first(raw, ['num_attention_heads', 'n_head', 'num_heads']);
  const headDim = first(raw, FIELDS.headDim)?.value ?? (heads ? d / heads.value : d);
  const attn = heads ? 2 * d * heads.value * headDim : 2 * d * d;
  const perLayer = attn + 2 * d * inter;
  const embed = (vocab?.value ?? 0) * d * (raw.tie_word_embeddings === false ? 2 : 1);
  const bytes = 4 * (embed + (layers?.value ?? 1) * perLayer);
  if (bytes > ceiling) {
    const parts = [
      layers && `${layers.key} ${layers.value}`,
      `${width.key} ${d}`,
      vocab && `${vocab.key} ${vocab.value}`,
    ]
      .filter(Boolean)
      .join(', ');
    throw new ModelConfigError(
      `${where}: ${parts} imply at least ${gib(bytes)} of float32 weights, above the memory ceiling ` +
        `of ${gib(ceiling)} (a sanity bound; CRAM_MEMORY_CEILING_GIB sets another)`,
    );
  }
}

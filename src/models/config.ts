/**
 * One normalized view of a Hugging Face `config.json`, whichever transformers version wrote it
 * (v4: top-level `rope_theta`, `torch_dtype`; v5: `rope_parameters.rope_theta`, `dtype`).
 */
export type Architecture = 'llama' | 'gpt_neox' | 'gpt2' | 'opt';
export const SUPPORTED_ARCHITECTURES: Architecture[] = ['llama', 'gpt_neox', 'gpt2', 'opt'];

export interface ModelConfig {
  modelType: Architecture;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  normEps: number;
  tieWordEmbeddings: boolean;
  /** Llama / NeoX rotary settings. */
  ropeTheta: number;
  rotaryDim: number;
  /** Llama-3.1/3.2 "llama3" frequency scaling (applies at every length), or null. */
  ropeScaling: Llama3RopeScaling | null;
  /** llama2.c checkpoints rotate adjacent pairs (x0,x1),(x2,x3)…; Hugging Face rotates halves. */
  ropeInterleaved: boolean;
  /** Activation of the MLP: silu (SwiGLU, Llama), gelu (exact erf), gelu_new (tanh approx, GPT-2), relu (OPT). */
  activation: 'silu' | 'gelu' | 'gelu_new' | 'relu';
  attentionBias: boolean;
  mlpBias: boolean;
  /** GPT-NeoX: attention and MLP both read the block input. */
  parallelResidual: boolean;
  /** OPT: the embedding width when it differs from hiddenSize (project_in / project_out). */
  wordEmbedProjDim: number;
  /** OPT: whether layer norms come before attention/MLP (pre-LN). */
  doLayerNormBefore: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
  /** The source dtype of the weights (informational; we always compute in float32). */
  dtype: string;
}

export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

type Raw = Record<string, any>;

function num(raw: Raw, keys: string[], fallback?: number): number {
  for (const k of keys) if (typeof raw[k] === 'number') return raw[k];
  if (fallback !== undefined) return fallback;
  throw new Error(`config.json lacks ${keys.join(' / ')}`);
}

function firstId(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  return null;
}

export function normalizeConfig(raw: Raw, where = 'config.json'): ModelConfig {
  const modelType = raw.model_type as string;
  if (!SUPPORTED_ARCHITECTURES.includes(modelType as Architecture)) {
    throw new Error(`${where}: unknown model_type "${modelType}"; supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`);
  }
  const rope = (raw.rope_parameters ?? raw.rope_scaling ?? {}) as Raw;
  const ropeTheta = typeof rope.rope_theta === 'number' ? rope.rope_theta : num(raw, ['rope_theta', 'rotary_emb_base'], 10000);
  const ropeType = rope.rope_type ?? rope.type ?? 'default';
  if (ropeType !== 'default' && ropeType !== 'llama3') throw new Error(`${where}: rope_type "${ropeType}" is not supported (only default and llama3)`);
  const ropeScaling: Llama3RopeScaling | null = ropeType === 'llama3' ? {
    factor: rope.factor, lowFreqFactor: rope.low_freq_factor, highFreqFactor: rope.high_freq_factor,
    originalMaxPositions: rope.original_max_position_embeddings,
  } : null;
  const hiddenSize = num(raw, ['hidden_size', 'n_embd']);
  const numHeads = num(raw, ['num_attention_heads', 'n_head']);
  const headDim = num(raw, ['head_dim'], hiddenSize / numHeads);
  const partial = typeof rope.partial_rotary_factor === 'number' ? rope.partial_rotary_factor : num(raw, ['partial_rotary_factor', 'rotary_pct'], 1);
  const activationRaw = (raw.hidden_act ?? raw.activation_function ?? 'silu') as string;
  const activation = ({ silu: 'silu', swish: 'silu', gelu: 'gelu', gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', relu: 'relu' } as const)[activationRaw as 'silu'];
  if (!activation) throw new Error(`${where}: activation "${activationRaw}" is not supported`);
  const defaults: Record<Architecture, { tie: boolean; ffn: number }> = {
    llama: { tie: false, ffn: 0 }, gpt_neox: { tie: false, ffn: 4 * hiddenSize }, gpt2: { tie: true, ffn: 4 * hiddenSize }, opt: { tie: true, ffn: 4 * hiddenSize },
  };
  const t = modelType as Architecture;
  return {
    modelType: t,
    hiddenSize,
    numLayers: num(raw, ['num_hidden_layers', 'n_layer']),
    numHeads,
    numKvHeads: num(raw, ['num_key_value_heads'], numHeads),
    headDim,
    intermediateSize: raw.n_inner ?? num(raw, ['intermediate_size', 'ffn_dim'], defaults[t].ffn),
    vocabSize: num(raw, ['vocab_size']),
    maxPositions: num(raw, ['max_position_embeddings', 'n_positions'], 2048),
    normEps: num(raw, ['rms_norm_eps', 'layer_norm_eps', 'layer_norm_epsilon'], 1e-5),
    tieWordEmbeddings: typeof raw.tie_word_embeddings === 'boolean' ? raw.tie_word_embeddings : defaults[t].tie,
    ropeTheta,
    ropeScaling,
    rotaryDim: t === 'gpt_neox' ? Math.floor(headDim * partial) : headDim,
    ropeInterleaved: raw.rope_interleaved === true,
    activation,
    attentionBias: t === 'llama' ? raw.attention_bias === true : t === 'gpt_neox' ? raw.attention_bias !== false : raw.enable_bias !== false,
    mlpBias: t === 'llama' ? raw.mlp_bias === true : raw.enable_bias !== false,
    parallelResidual: raw.use_parallel_residual !== false,
    wordEmbedProjDim: num(raw, ['word_embed_proj_dim'], hiddenSize),
    doLayerNormBefore: raw.do_layer_norm_before !== false,
    bosTokenId: firstId(raw.bos_token_id),
    eosTokenId: firstId(raw.eos_token_id),
    dtype: (raw.dtype ?? raw.torch_dtype ?? 'float32') as string,
  };
}

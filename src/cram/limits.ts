/**
 * Known limits, checked once before any work: a model whose weights cannot fit the backend's memory, and inputs
 * ([mem] vectors + text tokens) longer than the model's positions. Both fail at model open time or before cramming,
 * with the limit and what to do, never in the middle of a run.
 *
 * Memory estimate: the sessions of a model (step, evaluation, decoding) share one float32 copy of the weights —
 * memory-mapped from a float32 checkpoint in place, or from the float32 cache file for bf16/fp16 checkpoints
 * (src/models/float32-cache.ts) — and hold their activations: measured 1.2× the float32 weights in proportional set
 * size for a Llama-3.2-1B-shaped model with all three sessions open (6.4 GB for 5 GB of weights, 128 tokens), so
 * WEIGHT_COPIES = 1.5. Plus, when the batch is known, its logits (batch tokens × vocabulary × float32, three tensors
 * alive at once), plus 512 MiB for the runtime.
 * On the CPU backend the estimate is compared with the memory available now; on CUDA with the device memory when
 * nvidia-smi can tell it; WebGPU is not checked (no portable way to read its memory). CRAM_MEMORY_LIMIT (bytes, or a
 * number with K/M/G suffix) replaces the detected limit; CRAM_MEMORY_LIMIT=off skips the check.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { readJsonObject } from '../files.ts';
import { readModelWeightEntries } from '../models/safetensors.ts';
import type { CausalLM } from '../models/causal-lm.ts';
import { PRECISION_BYTES, type Precision } from '../engine/precision.ts';

export class LimitError extends Error {}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export function formatBytes(n: number): string {
  return n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${Math.ceil(n / MiB)} MiB`;
}

/** Float32 copies of the weights a cram run's sessions hold (see above). */
export const WEIGHT_COPIES = 1.5;

/** Bytes of the weights as float32. */
export function float32WeightBytes(model: CausalLM): number {
  let elements = 0;
  for (const e of model.weights.entries.values()) elements += e.shape.reduce((a, b) => a * b, 1);
  return elements * 4;
}

/**
 * Bytes of the weights the sessions hold at `precision` on `backend`: float32, or the half type on a GPU provider
 * (half products read their operands in that type); on cpu a half precision is emulated (precision.ts), so the
 * float32 copy stays and each session folds a rounded float32 copy of the weights in.
 */
export function heldWeightBytes(float32Bytes: number, backend: string, precision: Precision = 'float32'): number {
  if (precision === 'float32') return float32Bytes;
  if (backend === 'cpu') return float32Bytes * (1 + EMULATED_SESSION_COPIES / WEIGHT_COPIES);
  return (float32Bytes / 4) * PRECISION_BYTES[precision];
}

/** Rounded float32 weight copies an emulated half precision adds on cpu (one per open session, at most three). */
export const EMULATED_SESSION_COPIES = 2;

/** Bytes the backend needs for the model's sessions and, when given, batches of `batchTokens` positions. */
export function estimateMemoryBytes(
  model: CausalLM,
  batchTokens = 0,
  backend = 'cpu',
  precision: Precision = 'float32',
): number {
  const weights = heldWeightBytes(float32WeightBytes(model), backend, precision);
  return weights * WEIGHT_COPIES + batchTokens * model.config.vocabSize * 4 * 3 + 512 * MiB;
}

/** CRAM_MEMORY_LIMIT: null when unset, 'off', or a byte count. */
export function memoryLimitFromEnv(value = process.env.CRAM_MEMORY_LIMIT): number | 'off' | null {
  if (value === undefined || value.trim() === '') return null;
  const v = value.trim();
  if (v.toLowerCase() === 'off') return 'off';
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v);
  if (!m) throw new LimitError(`CRAM_MEMORY_LIMIT="${value}" is not a size (e.g. 16G, 512M, a byte count, or "off")`);
  const unit = { '': 1, k: 1024, m: MiB, g: GiB, t: 1024 * GiB }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Number(m[1]) * unit;
}

/** Total memory of the first visible CUDA device via nvidia-smi, or null when it cannot be read. */
function cudaDeviceMemory(): number | null {
  try {
    const visible = process.env.CUDA_VISIBLE_DEVICES?.split(',')[0]?.trim();
    const args = ['--query-gpu=memory.total', '--format=csv,noheader,nounits', ...(visible ? ['-i', visible] : [])];
    const r = spawnSync('nvidia-smi', args, { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0) return null;
    const mib = Number(r.stdout.trim().split('\n')[0]);
    return Number.isFinite(mib) && mib > 0 ? mib * MiB : null;
  } catch {
    return null;
  }
}

export interface MemoryLimit {
  bytes: number;
  what: string;
}

/** The memory the backend can use, or null when it cannot be told (the check is then skipped). */
export function backendMemoryLimit(backend: string): MemoryLimit | null {
  const env = memoryLimitFromEnv();
  if (env === 'off') return null;
  if (env !== null) return { bytes: env, what: 'the limit set by CRAM_MEMORY_LIMIT' };
  if (backend === 'cpu') {
    const total = totalmem();
    const free = freemem();
    return free < total
      ? { bytes: free, what: `the memory available now (${formatBytes(free)} of ${formatBytes(total)} total)` }
      : { bytes: total, what: "the machine's memory" };
  }
  if (backend === 'cuda') {
    const device = cudaDeviceMemory();
    return device ? { bytes: device, what: "the CUDA device's memory" } : null;
  }
  return null;
}

export interface LimitOptions {
  /** The most positions one input needs: [mem] vectors + text tokens. */
  maxTokens?: number;
  /** Positions in one batch (texts × their positions), when known: their logits count towards memory. */
  batchTokens?: number;
  /** How the caller names the model in messages (default: its model_type). */
  name?: string;
  /** Overrides the detected memory limit (tests); null skips the memory check. */
  memoryLimit?: MemoryLimit | null;
  /** Where maxTokens comes from, for the message (e.g. "config lengths up to 512 + 4 vectors"). */
  tokensFrom?: string;
  /** Precision of the matrix products (weights held at it on GPU providers). */
  precision?: Precision;
}

/** Throws a LimitError naming the limit and what to do when the model or the inputs cannot run on `backend`. */
export function checkLimits(model: CausalLM, backend: string, opts: LimitOptions = {}): void {
  const name = opts.name ?? model.config.modelType;
  if (opts.maxTokens !== undefined && opts.maxTokens > model.maxPositions) {
    throw new LimitError(
      `${name} accepts at most ${model.maxPositions} positions ([mem] vectors + text tokens) but ${opts.tokensFrom ?? 'the input'} needs ${opts.maxTokens}: ` +
        `use texts of at most ${model.maxPositions} positions in all (shorter lengths or fewer vectors), or a model with more positions`,
    );
  }
  const limit = opts.memoryLimit !== undefined ? opts.memoryLimit : backendMemoryLimit(backend);
  if (!limit) return;
  const precision = opts.precision ?? 'float32';
  const need = estimateMemoryBytes(model, opts.batchTokens ?? 0, backend, precision);
  if (need > limit.bytes) {
    const logits = opts.batchTokens
      ? ` + logits of ${opts.batchTokens} batch positions × ${model.config.vocabSize} tokens`
      : '';
    const smaller = opts.batchTokens ? ', smaller batches (batch.max_tokens)' : '';
    const other =
      backend === 'cpu'
        ? 'a GPU backend with enough memory (--backend cuda)'
        : 'the CPU backend on a machine with enough memory (--backend cpu)';
    throw new LimitError(
      `${name} needs about ${formatBytes(need)} on the ${backend} backend (${formatBytes(heldWeightBytes(float32WeightBytes(model), backend, precision))} of ${precision} weights × ${WEIGHT_COPIES} for the shared copy and activations${logits} + 512 MiB) ` +
        `but ${limit.what} is ${formatBytes(limit.bytes)}: free memory, use a smaller model${smaller}, or ${other}; CRAM_MEMORY_LIMIT=off skips this check`,
    );
  }
}

// ---------------------------------------------------------------- the memory plan (`cram check`), from config.json

/** What the plan needs to know of a model: its config's sizes (and its weights' element count when known). */
export interface ModelShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  tied: boolean;
  /** Weight elements: summed from the safetensors headers when the weights are there, else from the sizes above. */
  weightElements: number;
  /** Whether layers hold attention (Mamba's do not: no T² term). */
  attention: boolean;
}

/** A Llama-style decoder's weight elements from its sizes (embedding, optional head, attention, gated MLP, norms). */
export function llamaWeightElements(s: Omit<ModelShape, 'weightElements' | 'attention'>): number {
  const attn = s.hidden * s.heads * s.headDim * 2 + s.hidden * s.kvHeads * s.headDim * 2;
  const mlp = 3 * s.hidden * s.intermediate;
  return s.vocab * s.hidden * (s.tied ? 1 : 2) + s.layers * (attn + mlp + 2 * s.hidden) + s.hidden;
}

/**
 * Activations the step graph keeps for its backward pass, per layer: float32 elements per position (residual and
 * norm intermediates ≈ 12·d, the MLP ≈ 6·I, q/k/v with their rotary pieces ≈ 4·(H + 2·Hkv)·D) and per (head, query,
 * key) four float32 score tensors (scaled, masked, softmax); under a half precision also the half q, k, v and
 * probabilities the attention products keep. ACTIVATION_SCALE fits the sum to the measured peak RSS of a
 * Llama-3.2-1B shape at 128 and 512 tokens in float32 (README *Speed*): 11.1 and 17.1 GB.
 */
export const ACTIVATION_SCALE = 1.3;

export function activationBytesPerText(s: ModelShape, tokens: number, precision: Precision = 'float32'): number {
  const half = precision !== 'float32';
  const qkv = (s.heads + 2 * s.kvHeads) * s.headDim;
  const perToken = (12 * s.hidden + 6 * s.intermediate + 4 * qkv) * 4 + (half ? qkv * 2 : 0);
  const perScore = s.attention ? 16 + (half ? 2 : 0) : 0;
  const layers = s.layers * (tokens * perToken + s.heads * tokens * tokens * perScore);
  const logits = tokens * s.vocab * 4 * 3;
  return ACTIVATION_SCALE * layers + logits;
}

export interface MemoryPlanRow {
  backend: string;
  precision: Precision;
  /** One copy of the weights as the backend holds them. */
  weights_bytes: number;
  /** The step graph's activations for one text of `tokens` positions. */
  activations_bytes: number;
  /** Weights (× WEIGHT_COPIES on cpu) + one text's activations + 512 MiB. */
  total_batch1_bytes: number;
  /** Most texts of `tokens` positions in one batch, per device budget (0: not even one). */
  max_batch: Record<string, number>;
}

export const PLAN_BUDGETS: Record<string, number> = { '24GB': 24e9, '80GB': 80e9 };

/**
 * The plan per backend and precision for texts of `tokens` positions ([mem] + text): what a cram step holds. On a GPU
 * the weights are one session's copy (each ONNX Runtime session holds its own initializers on the device, so the
 * evaluation and decoding sessions add one copy each when they are open); on cpu the sessions share one mapped copy.
 */
export function memoryPlan(
  s: ModelShape,
  tokens: number,
  backends = ['cpu', 'cuda', 'webgpu'],
  precisions: Precision[] = ['float32', 'bfloat16', 'float16'],
  budgets = PLAN_BUDGETS,
): MemoryPlanRow[] {
  const rows: MemoryPlanRow[] = [];
  for (const backend of backends) {
    for (const precision of precisions) {
      if (backend === 'webgpu' && precision === 'bfloat16') continue; // refused (precision.ts)
      const weights = heldWeightBytes(s.weightElements * 4, backend, precision);
      const fixed = weights * (backend === 'cpu' ? WEIGHT_COPIES : 1) + 512 * MiB;
      const act = activationBytesPerText(s, tokens, precision);
      const max_batch: Record<string, number> = {};
      for (const [name, bytes] of Object.entries(budgets))
        max_batch[name] = Math.max(0, Math.floor((bytes - fixed) / act));
      rows.push({
        backend,
        precision,
        weights_bytes: weights,
        activations_bytes: act,
        total_batch1_bytes: fixed + act,
        max_batch,
      });
    }
  }
  return rows;
}

/** The longest text (positions) one text of which fits `budget` bytes at batch 1, by bisection (0 when none does). */
export function maxTokensFitting(s: ModelShape, backend: string, precision: Precision, budget: number): number {
  const copies = backend === 'cpu' ? WEIGHT_COPIES : 1;
  const fixed = heldWeightBytes(s.weightElements * 4, backend, precision) * copies + 512 * MiB;
  let lo = 0;
  let hi = 1 << 20;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fixed + activationBytesPerText(s, mid, precision) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** A model's shape from its config.json fields (Llama-style names first, then GPT-2/NeoX/OPT ones), or null. */
export function shapeFromConfig(raw: Record<string, unknown>, weightElements: number | null): ModelShape | null {
  const n = (...keys: string[]) => keys.map((k) => raw[k]).find((v): v is number => typeof v === 'number');
  const hidden = n('hidden_size', 'n_embd', 'd_model');
  const layers = n('num_hidden_layers', 'n_layer');
  const vocab = n('vocab_size');
  if (!hidden || !layers || !vocab) return null;
  const mamba = String(raw.model_type ?? '').startsWith('mamba');
  const heads = n('num_attention_heads', 'n_head') ?? (mamba ? 1 : 0);
  if (!heads) return null;
  const kvHeads = n('num_key_value_heads') ?? heads;
  const headDim = n('head_dim') ?? Math.floor(hidden / heads);
  const intermediate =
    n('intermediate_size', 'n_inner', 'ffn_dim') ?? (mamba ? 2 * hidden * (n('expand') ?? 2) : 4 * hidden);
  // Tied unless config.json says otherwise (GPT-NeoX's head is untied).
  const tied = raw.tie_word_embeddings === undefined ? raw.model_type !== 'gpt_neox' : raw.tie_word_embeddings === true;
  const base = { hidden, layers, heads, kvHeads, headDim, intermediate, vocab, tied };
  return { ...base, attention: !mamba, weightElements: weightElements ?? llamaWeightElements(base) };
}

/**
 * The plan for a model folder (config.json; the weights' element count from the safetensors headers when present,
 * nothing loaded), for texts of `tokens` positions; null when the folder has no config.json this plan can read.
 */
export function planForModelDir(
  dir: string,
  tokens: number,
): { shape: ModelShape; rows: MemoryPlanRow[]; weightsFrom: string } | null {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return null;
  const raw = readJsonObject(file, 'model config') as Record<string, unknown>;
  let elements: number | null = null;
  try {
    elements = readModelWeightEntries(dir).reduce((a, e) => a + e.shape.reduce((p, q) => p * q, 1), 0);
  } catch {
    /* no weights here: count them from the config */
  }
  const shape = shapeFromConfig(raw, elements);
  if (!shape) return null;
  const weightsFrom = elements === null ? 'config.json sizes (no weights here)' : 'safetensors headers';
  return { shape, rows: memoryPlan(shape, tokens), weightsFrom };
}

/** GB with one decimal (device budgets are sold in 10⁹ bytes), MB below 1 GB. */
export function gb(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : `${Math.ceil(n / 1e6)} MB`;
}

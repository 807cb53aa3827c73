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
import { freemem, totalmem } from 'node:os';
import type { CausalLM } from '../models/causal-lm.ts';

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

/** Bytes the backend needs for the model's sessions and, when given, batches of `batchTokens` positions. */
export function estimateMemoryBytes(model: CausalLM, batchTokens = 0): number {
  return float32WeightBytes(model) * WEIGHT_COPIES + batchTokens * model.config.vocabSize * 4 * 3 + 512 * MiB;
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

export interface MemoryLimit { bytes: number; what: string }

/** The memory the backend can use, or null when it cannot be told (the check is then skipped). */
export function backendMemoryLimit(backend: string): MemoryLimit | null {
  const env = memoryLimitFromEnv();
  if (env === 'off') return null;
  if (env !== null) return { bytes: env, what: 'the limit set by CRAM_MEMORY_LIMIT' };
  if (backend === 'cpu') {
    const total = totalmem();
    const free = freemem();
    return free < total ? { bytes: free, what: `the memory available now (${formatBytes(free)} of ${formatBytes(total)} total)` } : { bytes: total, what: 'the machine\'s memory' };
  }
  if (backend === 'cuda') {
    const device = cudaDeviceMemory();
    return device ? { bytes: device, what: 'the CUDA device\'s memory' } : null;
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
}

/** Throws a LimitError naming the limit and what to do when the model or the inputs cannot run on `backend`. */
export function checkLimits(model: CausalLM, backend: string, opts: LimitOptions = {}): void {
  const name = opts.name ?? model.config.modelType;
  if (opts.maxTokens !== undefined && opts.maxTokens > model.maxPositions) {
    throw new LimitError(`${name} accepts at most ${model.maxPositions} positions ([mem] vectors + text tokens) but ${opts.tokensFrom ?? 'the input'} needs ${opts.maxTokens}: ` +
      `use texts of at most ${model.maxPositions} positions in all (shorter lengths or fewer vectors), or a model with more positions`);
  }
  const limit = opts.memoryLimit !== undefined ? opts.memoryLimit : backendMemoryLimit(backend);
  if (!limit) return;
  const need = estimateMemoryBytes(model, opts.batchTokens ?? 0);
  if (need > limit.bytes) {
    const logits = opts.batchTokens ? ` + logits of ${opts.batchTokens} batch positions × ${model.config.vocabSize} tokens` : '';
    const smaller = opts.batchTokens ? ', smaller batches (batch.max_tokens)' : '';
    const other = backend === 'cpu' ? 'a GPU backend with enough memory (--backend cuda)' : 'the CPU backend on a machine with enough memory (--backend cpu)';
    throw new LimitError(`${name} needs about ${formatBytes(need)} on the ${backend} backend (${formatBytes(float32WeightBytes(model))} of float32 weights × ${WEIGHT_COPIES} for the shared copy and activations${logits} + 512 MiB) ` +
      `but ${limit.what} is ${formatBytes(limit.bytes)}: free memory, use a smaller model${smaller}, or ${other}; CRAM_MEMORY_LIMIT=off skips this check`);
  }
}

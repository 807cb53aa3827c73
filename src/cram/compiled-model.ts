/**
 * A model made runnable: its objective graphs (one per K, with or without the gradient) and its decode graph,
 * serialized once, kept in the on-disk graph cache (keyed by the model's weight hash, the graph kind, K and the
 * graph's own hash) and run as ONNX Runtime sessions. Host buffers in, host buffers out: one transfer each way per call.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as OrtTypes from 'onnxruntime-node';
import { cacheDir, writeCacheFile } from '../engine/cache.ts';
import { Graph } from '../engine/graph/graph.ts';
import { serialize } from '../engine/graph/onnx.ts';
import { withMatmulPrecision } from '../engine/graph/ops.ts';
import * as op from '../engine/graph/ops.ts';
import { FLOAT32_MODE, precisionSupport, probeFailure, type MatmulMode, type Precision } from '../engine/precision.ts';
import type { BackendChoice } from '../engine/backends.ts';
import { createSession, initRuntime, type Runtime } from '../engine/runtime.ts';
import type { CausalLM } from '../models/causal-lm.ts';
import { loadModel, type LoadedModel } from '../models/load.ts';
import { needsFloat32Cache, useFloat32Cache } from '../models/float32-cache.ts';
import { checkLimits, type LimitOptions } from './limits.ts';
import { buildDecodeGraph, buildObjectiveGraph, buildOneStepDecodeGraph, buildOneStepGraph } from './objective.ts';

export interface ObjectiveOutputs {
  /** Per-text mean CE [B]. */
  loss: Float32Array;
  /** Per-text correct argmax predictions [B]. */
  correct: Float32Array;
  /** Per-token CE [B, P] (P = longest N − 1; 0 on padding). */
  tokenCe: Float32Array;
  /** d(Σ loss)/d(mem) [B, K, d] (step graphs only). */
  grad?: Float32Array;
  /** P: predictions per row in tokenCe. */
  width: number;
}

/** One text's teacher-forced evaluation (CompiledModel.evaluate). */
export interface Evaluation {
  /** Mean CE over the text's N−1 predictions (nats). */
  loss: number;
  correct: number;
  accuracy: number;
  /** CE of each of the N−1 predictions. */
  tokenCe: number[];
}

/** Outputs of the one-step objective (objective.ts, buildOneStepGraph). */
export interface OneStepOutputs {
  /** Per-text mean CE over its targets [B]. */
  loss: Float32Array;
  /** Per-text correct argmax predictions [B]. */
  correct: Float32Array;
  /** Per-token CE [B, P] (P = most targets; 0 on padding). */
  tokenCe: Float32Array;
  /** d(Σ loss)/d(e) and d(Σ loss)/d(m), [B, d] each (with the gradient only). */
  gradE?: Float32Array;
  gradM?: Float32Array;
  /** P: targets per row in tokenCe. */
  width: number;
}

/** Right-pads id lists into int64 [B, maxN]. */
export function padIds(texts: number[][], pad = 0): { data: BigInt64Array; maxN: number } {
  const maxN = Math.max(...texts.map((t) => t.length));
  const data = new BigInt64Array(texts.length * maxN).fill(BigInt(pad));
  texts.forEach((t, b) =>
    t.forEach((id, i) => {
      data[b * maxN + i] = BigInt(id);
    }),
  );
  return { data, maxN };
}

interface DecodeSession {
  session: OrtTypes.InferenceSession;
  carried: { name: string; dims: (number | string)[]; axis: number | null }[];
}

export class CompiledModel {
  private readonly sessions = new Map<string, Promise<OrtTypes.InferenceSession>>();
  private decodeSession: Promise<DecodeSession> | null = null;

  /** How the matrix products run (src/engine/precision.ts); float32 unless the model was opened with a precision. */
  readonly matmul: MatmulMode;

  constructor(
    readonly runtime: Runtime,
    readonly model: CausalLM,
    readonly weightsSha256: string,
    opts: { matmul?: MatmulMode } = {},
  ) {
    // WebGPU binds each weight as one storage buffer (at most 2 GiB on an H100, less elsewhere): split larger ones.
    if (runtime.name === 'webgpu') model.weights.maxBlockBytes = 1 << 30;
    this.matmul = opts.matmul ?? FLOAT32_MODE;
  }

  get precision(): Precision {
    return this.matmul.dtype;
  }

  get embedDim(): number {
    return this.model.embedDim;
  }

  /**
   * The known limits (limits.ts) for this model on this backend: inputs of up to `maxTokens` positions, batches of
   * `batchTokens`. Memory is checked only while no session is open (afterwards this model's own sessions are part of
   * the memory in use, and a check could stop a run that fits).
   */
  checkFits(opts: Omit<LimitOptions, 'memoryLimit'> = {}): void {
    const open = this.sessions.size > 0 || this.decodeSession !== null;
    const limits = open ? { ...opts, memoryLimit: null } : opts;
    checkLimits(this.model, this.runtime.name, { precision: this.precision, ...limits });
  }

  private weightsReady = false;

  /** Before the first session: half-precision weights go through the shared float32 file (see float32-cache.ts). */
  private prepareWeights(): void {
    if (this.weightsReady) return;
    this.weightsReady = true;
    // Native half products read half checkpoints in place (no float32 copy); float32 and emulated runs use the copy.
    const native = this.matmul.dtype !== 'float32' && !this.matmul.emulate;
    if (!native && needsFloat32Cache(this.model.weights)) useFloat32Cache(this.model.weights, this.weightsSha256);
  }

  private async sessionFor(key: string, build: () => Uint8Array): Promise<OrtTypes.InferenceSession> {
    this.prepareWeights();
    let s = this.sessions.get(key);
    if (!s) {
      const bytes = this.cachedGraph(key, () => withMatmulPrecision(this.matmul, build));
      s = createSession(this.runtime, bytes, this.model.weights.folder || null);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  /** The serialized graph, written to the graph cache (for reuse and inspection, e.g. with Netron). */
  private cachedGraph(key: string, build: () => Uint8Array): Uint8Array {
    const bytes = build();
    const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    try {
      const file = join(cacheDir('graphs', this.weightsSha256.slice(0, 16)), `${key}-${hash}.onnx`);
      if (!existsSync(file) || readFileSync(file).length !== bytes.length) writeCacheFile(file, bytes);
    } catch {
      /* a read-only cache only costs the write */
    }
    return bytes;
  }

  /**
   * The objective for a batch: `mem` [B·K·d] (null when K = 0), texts right-padded. With `grad`, also the gradient
   * w.r.t. mem.
   */
  async objective(nMem: number, mem: Float32Array | null, texts: number[][], grad: boolean): Promise<ObjectiveOutputs> {
    if (nMem === 0 && grad) throw new Error('no [mem] vectors to differentiate');
    const ort = this.runtime.ort;
    // One graph per purpose (with or without the backward pass); K is dynamic, K = 0 is the baseline.
    const key = `objective${grad ? '-grad' : ''}`;
    const session = await this.sessionFor(key, () => serialize(buildObjectiveGraph(this.model, { grad })));
    const B = texts.length;
    const d = this.embedDim;
    const { data, maxN } = padIds(texts);
    if (nMem > 0 && (!mem || mem.length !== B * nMem * d)) throw new Error(`mem must hold ${B}×${nMem}×${d} values`);
    const feeds: Record<string, OrtTypes.Tensor> = {
      mem: new ort.Tensor('float32', nMem > 0 ? mem! : new Float32Array(0), [B, nMem, d]),
      ids: new ort.Tensor('int64', data, [B, maxN]),
      n_tokens: new ort.Tensor('int64', BigInt64Array.from(texts.map((t) => BigInt(t.length))), [B]),
    };
    const out = await session.run(feeds);
    const result: ObjectiveOutputs = {
      loss: out.loss.data as Float32Array,
      correct: out.correct.data as Float32Array,
      tokenCe: out.token_ce.data as Float32Array,
      width: maxN - 1,
    };
    if (grad) result.grad = out.grad.data as Float32Array;
    for (const t of Object.values(out)) t.dispose?.();
    return result;
  }

  /**
   * Teacher-forced evaluation of vectors `mem` [B·K·d] (null when K = 0: the no-vector baseline) on texts, batched:
   * per text the mean loss, correct predictions, accuracy over its N−1 predictions and per-token CE.
   */
  async evaluate(nMem: number, mem: Float32Array | null, texts: number[][]): Promise<Evaluation[]> {
    const r = await this.objective(nMem, mem, texts, false);
    return texts.map((t, i) => ({
      loss: r.loss[i],
      correct: r.correct[i],
      accuracy: r.correct[i] / (t.length - 1),
      tokenCe: Array.from(r.tokenCe.subarray(i * r.width, i * r.width + t.length - 1)),
    }));
  }

  /** The incremental decoder (key/value cache), built on first use. */
  async decoder(): Promise<DecodeSession> {
    if (!this.decodeSession) {
      this.decodeSession = (async () => {
        this.prepareWeights();
        const { graph, carried } = withMatmulPrecision(this.matmul, () => buildDecodeGraph(this.model));
        const session = await createSession(
          this.runtime,
          this.cachedGraph('decode', () => serialize(graph)),
          this.model.weights.folder || null,
        );
        return { session, carried };
      })();
      this.decodeSession.catch(() => {
        this.decodeSession = null;
      });
    }
    return this.decodeSession;
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => null))?.release();
    const d = this.decodeSession;
    this.decodeSession = null;
    if (d) await (await d.catch(() => null))?.session.release();
  }

  /**
   * The one-step objective (objective.ts, buildOneStepGraph) for a batch: `e` and `m` [B·d] (one m per row), `targets`
   * the tokens each row must produce (right-padded here). With `grad`, also d(Σ loss)/d(e) and d(Σ loss)/d(m) per row.
   */
  async oneStep(e: Float32Array, m: Float32Array, targets: number[][], grad: boolean): Promise<OneStepOutputs> {
    const ort = this.runtime.ort;
    const session = await this.sessionFor(`one-step${grad ? '-grad' : ''}`, () =>
      serialize(buildOneStepGraph(this.model, { grad })),
    );
    const B = targets.length;
    const d = this.embedDim;
    if (e.length !== B * d || m.length !== B * d) throw new Error(`e and m must each hold ${B}×${d} values`);
    if (targets.some((t) => t.length < 1)) throw new Error('one-step: every row needs at least one target token');
    const { data, maxN } = padIds(targets);
    const out = await session.run({
      e: new ort.Tensor('float32', e, [B, 1, d]),
      m: new ort.Tensor('float32', m, [B, 1, d]),
      ids: new ort.Tensor('int64', data, [B, maxN]),
      n_tokens: new ort.Tensor('int64', BigInt64Array.from(targets.map((t) => BigInt(t.length))), [B]),
    });
    const result: OneStepOutputs = {
      loss: out.loss.data as Float32Array,
      correct: out.correct.data as Float32Array,
      tokenCe: out.token_ce.data as Float32Array,
      width: maxN,
    };
    if (grad) {
      result.gradE = out.grad_e.data as Float32Array;
      result.gradM = out.grad_m.data as Float32Array;
    }
    for (const t of Object.values(out)) t.dispose?.();
    return result;
  }

  /** One-step decoding: the `n` tokens each row's [e, m × (n−1)] produces in one forward pass (argmax per position). */
  async oneStepDecode(e: Float32Array, m: Float32Array, n: number): Promise<number[][]> {
    const ort = this.runtime.ort;
    const session = await this.sessionFor('one-step-decode', () => serialize(buildOneStepDecodeGraph(this.model)));
    const d = this.embedDim;
    const B = e.length / d;
    if (!Number.isInteger(B) || m.length !== e.length || n < 1)
      throw new Error(`oneStepDecode: e and m must hold B×${d} values, n ≥ 1`);
    const out = await session.run({
      e: new ort.Tensor('float32', e, [B, 1, d]),
      m: new ort.Tensor('float32', m, [B, 1, d]),
      n: new ort.Tensor('int64', BigInt64Array.from([BigInt(n)]), [1]),
    });
    const flat = Array.from(out.tokens.data as BigInt64Array, Number);
    out.tokens.dispose?.();
    return Array.from({ length: B }, (_, b) => flat.slice(b * n, (b + 1) * n));
  }
}

const probed = new Map<string, Promise<string | null>>();

/** A 2×2 product in `mode`'s type, run once per provider: null when it works, else the provider's error. */
function probeHalf(runtime: Runtime, mode: MatmulMode): Promise<string | null> {
  const key = `${runtime.name}:${runtime.detail}:${mode.dtype}`;
  let p = probed.get(key);
  if (!p) {
    p = (async () => {
      const g = new Graph('precision-probe');
      const a = g.input('a', 'float32', [2, 2]);
      withMatmulPrecision(mode, () => g.output(op.linear2d(op.matmul(a, a), a), 'y'));
      try {
        // Quiet: a refused probe is reported as one line by the caller, not by ONNX Runtime's own log.
        const s = await runtime.ort.InferenceSession.create(serialize(g), {
          executionProviders: runtime.providers,
          logSeverityLevel: 4,
        });
        try {
          const r = await s.run({ a: new runtime.ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [2, 2]) });
          const y = r.y.data as Float32Array;
          r.y.dispose?.();
          // (a·a)·aᵀ for a = [[1,2],[3,4]]: [[37, 81], [81, 177]], exact in any half type.
          if (y[0] !== 37 || y[3] !== 177) return `computed ${Array.from(y).join(', ')} instead of 37, 81, 81, 177`;
          return null;
        } finally {
          await s.release();
        }
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    })();
    probed.set(key, p);
  }
  return p;
}

/**
 * How `precision` runs on the started `runtime` (src/engine/precision.ts), or a one-line error naming the provider and
 * what to use instead. Call it before any work: it costs one tiny session where the provider must be probed.
 */
export async function resolvePrecision(
  runtime: Runtime,
  precision: Precision,
): Promise<{ mode: MatmulMode; note: string | null }> {
  const support = precisionSupport(runtime.name, precision);
  if (!support.ok) throw new Error(support.reason);
  if (support.probe) {
    const failure = await probeHalf(runtime, support.mode);
    if (failure) throw new Error(probeFailure(runtime.name, precision, failure, runtime.detail));
  }
  return { mode: support.mode, note: support.note };
}

/** Loads a model and makes it runnable on the requested backend (the usual entry point). */
export async function openModel(
  nameOrPath: string,
  opts: { backend?: BackendChoice; tokenizer?: boolean; precision?: Precision } = {},
): Promise<LoadedModel & { compiled: CompiledModel }> {
  const runtime = await initRuntime(opts.backend ?? 'auto');
  const { mode } = await resolvePrecision(runtime, opts.precision ?? 'float32');
  const loaded = await loadModel(nameOrPath, { tokenizer: opts.tokenizer });
  const compiled = new CompiledModel(runtime, loaded.model, loaded.weightsSha256, { matmul: mode });
  compiled.checkFits({ name: loaded.name }); // a model too large for the backend fails here, before any session
  return { ...loaded, compiled };
}

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
import { serialize } from '../engine/graph/onnx.ts';
import type { BackendChoice } from '../engine/backends.ts';
import { createSession, initRuntime, type Runtime } from '../engine/runtime.ts';
import type { CausalLM } from '../models/causal-lm.ts';
import { loadModel, type LoadedModel } from '../models/load.ts';
import { needsFloat32Cache, useFloat32Cache } from '../models/float32-cache.ts';
import { checkFits, type FitOptions } from './fits.ts';
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
  texts.forEach((t, b) => t.forEach((id, i) => { data[b * maxN + i] = BigInt(id); }));
  return { data, maxN };
}

interface DecodeSession {
  session: OrtTypes.InferenceSession;
  carried: { name: string; dims: (number | string)[]; axis: number | null }[];
}

export class CompiledModel {
  private readonly sessions = new Map<string, Promise<OrtTypes.InferenceSession>>();
  private decodeSession: Promise<DecodeSession> | null = null;

  constructor(readonly runtime: Runtime, readonly model: CausalLM, readonly weightsSha256: string) {
    // WebGPU binds each weight as one storage buffer (at most 2 GiB on an H100, less elsewhere): split larger ones.
    if (runtime.name === 'webgpu') model.weights.maxBlockBytes = 1 << 30;
  }

  get embedDim(): number { return this.model.embedDim; }

  /**
   * The known limits (fits.ts) for this model on this backend: inputs of up to `maxTokens` positions, batches of
   * `batchTokens`. Memory is checked only while no session is open (afterwards this model's own sessions are part of
   * the memory in use, and a check could stop a run that fits).
   */
  checkFits(opts: Omit<FitOptions, 'memoryLimit'> = {}): void {
    const open = this.sessions.size > 0 || this.decodeSession !== null;
    checkFits(this.model, this.runtime.name, open ? { ...opts, memoryLimit: null } : opts);
  }

  private weightsReady = false;

  /** Before the first session: half-precision weights go through the shared float32 file (see float32-cache.ts). */
  private prepareWeights(): void {
    if (this.weightsReady) return;
    this.weightsReady = true;
    if (needsFloat32Cache(this.model.weights)) useFloat32Cache(this.model.weights, this.weightsSha256);
  }

  private async sessionFor(key: string, build: () => Uint8Array): Promise<OrtTypes.InferenceSession> {
    this.prepareWeights();
    let s = this.sessions.get(key);
    if (!s) {
      s = createSession(this.runtime, this.cachedGraph(key, build), this.model.weights.folder || null);
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
    } catch { /* a read-only cache only costs the write */ }
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
      lengths: new ort.Tensor('int64', BigInt64Array.from(texts.map((t) => BigInt(t.length))), [B]),
    };
    const out = await session.run(feeds);
    const result: ObjectiveOutputs = {
      loss: out.loss.data as Float32Array, correct: out.correct.data as Float32Array, tokenCe: out.token_ce.data as Float32Array, width: maxN - 1,
    };
    if (grad) result.grad = out.grad.data as Float32Array;
    for (const t of Object.values(out)) t.dispose?.();
    return result;
  }

  /** The incremental decoder (key/value cache), built on first use. */
  async decoder(): Promise<DecodeSession> {
    if (!this.decodeSession) {
      this.decodeSession = (async () => {
        this.prepareWeights();
        const { graph, carried } = buildDecodeGraph(this.model);
        const session = await createSession(this.runtime, this.cachedGraph('decode', () => serialize(graph)), this.model.weights.folder || null);
        return { session, carried };
      })();
      this.decodeSession.catch(() => { this.decodeSession = null; });
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
    const session = await this.sessionFor(`one-step${grad ? '-grad' : ''}`, () => serialize(buildOneStepGraph(this.model, { grad })));
    const B = targets.length;
    const d = this.embedDim;
    if (e.length !== B * d || m.length !== B * d) throw new Error(`e and m must each hold ${B}×${d} values`);
    if (targets.some((t) => t.length < 1)) throw new Error('one-step: every row needs at least one target token');
    const { data, maxN } = padIds(targets);
    const out = await session.run({
      e: new ort.Tensor('float32', e, [B, 1, d]),
      m: new ort.Tensor('float32', m, [B, 1, d]),
      ids: new ort.Tensor('int64', data, [B, maxN]),
      lengths: new ort.Tensor('int64', BigInt64Array.from(targets.map((t) => BigInt(t.length))), [B]),
    });
    const result: OneStepOutputs = {
      loss: out.loss.data as Float32Array, correct: out.correct.data as Float32Array, tokenCe: out.token_ce.data as Float32Array, width: maxN,
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
    if (!Number.isInteger(B) || m.length !== e.length || n < 1) throw new Error(`oneStepDecode: e and m must hold B×${d} values, n ≥ 1`);
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

/** Loads a model and makes it runnable on the requested backend (the usual entry point). */
export async function openModel(nameOrPath: string, opts: { backend?: BackendChoice; tokenizer?: boolean } = {}): Promise<LoadedModel & { engine: CompiledModel }> {
  const runtime = await initRuntime(opts.backend ?? 'auto');
  const loaded = await loadModel(nameOrPath, { tokenizer: opts.tokenizer });
  const engine = new CompiledModel(runtime, loaded.model, loaded.weightsSha256);
  engine.checkFits({ name: loaded.name }); // a model too large for the backend fails here, before any session
  return { ...loaded, engine };
}

/**
 * Speed fixes for @tensorflow/tfjs-backend-wasm (4.22) in Node, installed before `tf.setBackend('wasm')`:
 *
 * 1. BatchMatMul: the stock kernel only reaches XNNPACK when transposeA = transposeB = false and both batch
 *    dims are 1; everything else (every matMul gradient, batched attention) runs a scalar C loop at 1–2 GFLOP/s.
 *    The replacement materialises transposes with the wasm Transpose kernel and splits batches into per-slice
 *    XNNPACK calls on views into the existing heap buffers (no copies).
 * 2. Identity: the engine clones every tensor it saves for backprop through Identity, and the stock wasm kernel
 *    copies the whole buffer. tfjs tensors are immutable, so the clone can share the buffer (as Reshape does).
 * 3. Threads: tfjs disables them in Node (tfjs issue #3830); see `enableNodeThreads` below.
 */
import * as tf from '@tensorflow/tfjs-core';
import { broadcast_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// ---------------------------------------------------------------------------------------------------------------
// Minimal typing of the backend internals we use (verified against dist/backend_wasm.js of tfjs-backend-wasm 4.22).
interface WasmTensorData { id: number; memoryOffset: number; shape: number[]; dtype: string; refCount: number }
interface WasmModule {
  cwrap(name: string, ret: string | null, args: string[]): (...args: unknown[]) => unknown;
  _malloc(n: number): number;
  _free(p: number): void;
  HEAPU8: Uint8Array;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void; // unregisters the id (and runs its C disposal callbacks); frees nothing
    getThreadsCount(): number;
  };
  PThread?: { terminateAllThreads(): void; unusedWorkers: unknown[]; runningWorkers: unknown[] };
}
interface WasmBackend {
  wasm: WasmModule;
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: object): WasmTensorData };
  makeOutput(shape: number[], dtype: string): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type CwrappedMatMul = (aId: number, aShape: Uint8Array, aRank: number, bId: number, bShape: Uint8Array,
  bRank: number, transposeA: number, transposeB: number, outId: number) => void;

// cwrap of the C `BatchMatMul` entry point, bound lazily to the module instance (our kernels may be registered
// after the backend initialised, when a setupFunc would never run).
let boundModule: WasmModule | null = null;
let cMatMul: CwrappedMatMul | null = null;
function cBatchMatMul(backend: WasmBackend): CwrappedMatMul {
  if (boundModule !== backend.wasm || cMatMul == null) {
    cMatMul = backend.wasm.cwrap('BatchMatMul', null,
      ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']) as CwrappedMatMul;
    boundModule = backend.wasm;
  }
  return cMatMul;
}

const shapeBytes = (s: number[]) => new Uint8Array(new Int32Array(s).buffer);

/** Registers a temporary C tensor id that views `size` floats at byte offset `offset` of the wasm heap. */
function viewId(backend: WasmBackend, offset: number, size: number): number {
  // Fresh numbers from the backend's own counter, so they never collide with a real tensor id (XNNPACK caches
  // a packed-weights operator keyed by the b id; a collision would reuse stale packed weights).
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, offset);
  return id;
}

/** Materialises x (viewed as [batch, r, c]) transposed to [batch, c, r] with the stock wasm Transpose kernel. */
function transposeLast2(backend: WasmBackend, x: TensorInfo, batch: number, r: number, c: number): TensorInfo {
  const k = tf.getKernel('Transpose', 'wasm');
  if (k == null) throw new Error('wasm Transpose kernel not registered');
  return k.kernelFunc({
    inputs: { x: { dataId: x.dataId, shape: [batch, r, c], dtype: x.dtype } },
    backend: backend as unknown as tf.KernelBackend,
    attrs: { perm: [0, 2, 1] } as unknown as NamedAttrMap,
  }) as TensorInfo;
}

/** Row-major strides → for each flat out-batch index, the flat batch index into a side with `dims` (broadcast). */
function broadcastIndex(outDims: number[], dims: number[], outIndex: number): number {
  // dims are right-aligned against outDims; size-1 dims broadcast.
  let idx = 0, stride = 1, rem = outIndex;
  const off = outDims.length - dims.length;
  const coords = new Array<number>(outDims.length);
  for (let d = outDims.length - 1; d >= 0; d--) { coords[d] = rem % outDims[d]; rem = Math.floor(rem / outDims[d]); }
  for (let d = dims.length - 1; d >= 0; d--) {
    const c = dims[d] === 1 ? 0 : coords[d + off];
    idx += c * stride;
    stride *= dims[d];
  }
  return idx;
}

function fixedBatchMatMul(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const transposeA = !!(args.attrs as { transposeA?: boolean }).transposeA;
  const transposeB = !!(args.attrs as { transposeB?: boolean }).transposeB;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error('BatchMatMul for non non-float32 tensors not yet supported.');
  }
  const aRank = a.shape.length, bRank = b.shape.length;
  const K = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const Kb = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  const M = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const N = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  util.assert(K === Kb, () => `Error in matMul: inner shapes (${K}) and (${Kb}) of Tensors with shapes ` +
    `${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
  const aDims = a.shape.slice(0, -2), bDims = b.shape.slice(0, -2);
  const outDims = broadcast_util.assertAndGetBroadcastShape(aDims, bDims);
  const batchA = util.sizeFromShape(aDims), batchB = util.sizeFromShape(bDims);
  const batchOut = util.sizeFromShape(outDims);
  const outShape = outDims.concat([M, N]);

  const out = backend.makeOutput([batchOut, M, N], 'float32');
  if (batchOut * M * N === 0) return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
  if (K === 0) {
    (backend.typedArrayFromHeap(out) as Float32Array).fill(0);
    return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
  }

  // XNNPACK needs row-major [M,K] x [K,N]; transposes are materialised once (memory-bound, cheap next to the
  // O(MNK) product) instead of letting the C kernel fall back to its scalar loop.
  const tmp: TensorInfo[] = [];
  const a3 = transposeA ? (tmp.push(transposeLast2(backend, a, batchA, K, M)), tmp[tmp.length - 1]) : a;
  const b3 = transposeB ? (tmp.push(transposeLast2(backend, b, batchB, N, K)), tmp[tmp.length - 1]) : b;
  const mm = cBatchMatMul(backend);
  const aData = backend.dataIdMap.get(a3.dataId), bData = backend.dataIdMap.get(b3.dataId);
  const oData = backend.dataIdMap.get(out.dataId);
  const temps: number[] = [];
  try {
    if (batchB === 1 && batchA === batchOut) {
      // b is shared by every batch (also the plain 2-D case): one XNNPACK call with the batches folded into
      // the rows, [1, batchA*M, K] x [1, K, N]. Keeps the operator cache on the real b id (weights stay packed).
      mm(aData.id, shapeBytes([1, batchA * M, K]), 3, bData.id, shapeBytes([1, K, N]), 3, 0, 0, oData.id);
    } else {
      // One XNNPACK call per batch slice, on temporary ids that point inside the a/b/out buffers (no copies).
      const bIds = new Map<number, number>();
      for (let i = 0; i < batchOut; i++) {
        const ai = batchA === batchOut ? i : broadcastIndex(outDims, aDims, i);
        const bi = batchB === batchOut ? i : broadcastIndex(outDims, bDims, i);
        const aId = batchA === 1 ? aData.id : viewId(backend, aData.memoryOffset + ai * M * K * 4, M * K);
        if (aId !== aData.id) temps.push(aId);
        let bId = batchB === 1 ? bData.id : bIds.get(bi);
        if (bId === undefined) {
          bId = viewId(backend, bData.memoryOffset + bi * K * N * 4, K * N);
          bIds.set(bi, bId);
          temps.push(bId);
        }
        const oId = viewId(backend, oData.memoryOffset + i * M * N * 4, M * N);
        temps.push(oId);
        mm(aId, shapeBytes([1, M, K]), 3, bId, shapeBytes([1, K, N]), 3, 0, 0, oId);
      }
    }
  } finally {
    // Unregister the views (C `dispose_data` only erases the id and runs its disposal callbacks, which delete
    // the XNNPACK operator cached for it; the memory belongs to a/b/out and is not freed here).
    for (const id of temps) backend.wasm.tfjs.disposeData(id);
    for (const t of tmp) backend.disposeData(t.dataId);
  }
  return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
}

function sharedIdentity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const x = (args.inputs as { x: TensorInfo }).x;
  if (x.dtype === 'string') return stock.Identity!.kernelFunc(args as never) as TensorInfo;
  // Share the buffer instead of copying it: tensors are immutable, and the backend refcounts dataIds (the same
  // mechanism the wasm Reshape kernel uses), so disposing either tensor leaves the other intact.
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const FIXED: Record<string, KernelConfig> = {
  BatchMatMul: { kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc: fixedBatchMatMul as unknown as KernelFunc },
  Identity: { kernelName: 'Identity', backendName: 'wasm', kernelFunc: sharedIdentity as unknown as KernelFunc },
};
const stock: Partial<Record<string, KernelConfig>> = {};

function swapKernel(name: string, config: KernelConfig): void {
  if (tf.getKernel(name, 'wasm') != null) tf.unregisterKernel(name, 'wasm');
  tf.registerKernel(config);
}

/**
 * Switches between the stock and the fixed BatchMatMul/Identity kernels (for benchmarks and tests). Stock kernels
 * whose setupFunc never ran (they were unregistered before the backend initialised) get it run here.
 */
export function useFixedWasmKernels(fixed: boolean): void {
  for (const name of Object.keys(FIXED)) {
    if (!stock[name]) {
      const k = tf.getKernel(name, 'wasm');
      if (k == null) throw new Error('import @tensorflow/tfjs-backend-wasm before installing the wasm fixes');
      if (k !== FIXED[name]) stock[name] = k;
    }
    if (fixed) { swapKernel(name, FIXED[name]); continue; }
    const cfg = stock[name]!;
    const b = tf.findBackend('wasm');
    if (b && cfg.setupFunc) cfg.setupFunc(b);
    swapKernel(name, cfg);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Threads in Node. tfjs hard-disables them there (flag WASM_HAS_MULTITHREAD_SUPPORT is false under IS_NODE,
// tfjs issue #3830) because Emscripten's pthread glue hands `worker_threads` `blob:` URLs, which it cannot load.
// We wrap the registered 'wasm' backend factory so that, only while the module is being created:
//  - the worker script is written to a temp file and `URL.createObjectURL` returns that path for it;
//  - the worker gets a prelude defining the bundle-level aliases the factory source refers to (require$$N,
//    commonjsGlobal, tslib helpers, _scriptDir), and evals the main-script Blob it is sent instead of importing
//    it from a blob: URL;
//  - `os.cpus()` reports 2× the wanted thread count, because the C side caps the pool at logical cores / 2
//    (whatever setThreadsCount asks) and reads that once at module instantiation.
// Any failure (or a start that takes too long) falls back to the stock single-threaded module. Pool workers are
// unref()'d by Emscripten once loaded, so they do not keep the process alive.

const requireCjs = createRequire(import.meta.url);
interface NodeWorker { ref(): void; unref(): void }
let threadNote = '';

function workerPrelude(workerFile: string, scriptDir: string): string {
  return `"use strict";
var require$$0 = require("fs"), require$$1 = require("path"), require$$3 = require("perf_hooks"), require$$4 = require("os");
var commonjsGlobal = globalThis, _scriptDir = ${JSON.stringify(scriptDir)};
var __values = function (o) { return o[Symbol.iterator](); };
var __read = function (o, n) { var r = []; for (var v of o) { if (n !== undefined && r.length >= n) break; r.push(v); } return r; };
var __spreadArray = function (to, from) { return to.concat(Array.prototype.slice.call(from)); };
Object.assign(globalThis, { require$$0, require$$1, require$$3, require$$4, commonjsGlobal, _scriptDir, __values, __read, __spreadArray,
  __filename: ${JSON.stringify(workerFile)}, __dirname: ${JSON.stringify(path.dirname(workerFile))} });
`;
}

// After the Emscripten worker code: the main script arrives as a Blob; read it (async), then hand the original
// handler a marker that our importScripts evaluates. Messages that arrive meanwhile are queued in order.
const WORKER_POSTLUDE = `
;(function () {
  var orig = self.onmessage, queue = null, src = null, origImport = self.importScripts;
  self.importScripts = function (f) { if (f === "tfjs-main-script" && src != null) { (0, eval)(src); return; } return origImport(f); };
  self.onmessage = function (e) {
    if (queue) { queue.push(e); return; }
    var d = e.data;
    if (d && d.cmd === "load" && typeof d.urlOrBlob !== "string") {
      queue = [];
      d.urlOrBlob.text().then(function (text) {
        src = text; d.urlOrBlob = "tfjs-main-script"; orig(e);
        var q = queue; queue = null; q.forEach(function (m) { self.onmessage(m); });
      });
      return;
    }
    orig(e);
  };
})();
`;

function wantedThreads(): number {
  const env = process.env.TFJS_WASM_THREADS;
  if (env != null && env !== '') return Math.max(1, Math.floor(Number(env)) || 1);
  return Math.min(8, os.availableParallelism?.() ?? os.cpus().length); // the C side caps at 8 workers
}

function enableNodeThreads(): void {
  const threads = wantedThreads();
  if (threads <= 1) { threadNote = '1 thread (TFJS_WASM_THREADS)'; return; }
  const reg = (tf.engine() as unknown as { registryFactory: Record<string, { factory: () => unknown; priority: number }> })
    .registryFactory.wasm;
  if (reg == null || tf.engine().registry.wasm != null) { threadNote = '1 thread (backend already initialised)'; return; }
  const wasmPkg = requireCjs.resolve('@tensorflow/tfjs-backend-wasm');
  const { wasmWorkerContents } = createRequire(wasmPkg)('../wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as
    { wasmWorkerContents: string };
  const origFactory = reg.factory;
  const nodeOs = requireCjs('os') as typeof os; // the CJS object the Emscripten glue calls (not the ESM namespace)

  const threadedFactory = async () => {
    const workerFile = path.join(os.tmpdir(), `tfjs-wasm-worker-${process.pid}-${Date.now()}.cjs`);
    const escaped = wasmWorkerContents.replace(/\n/g, '\\n'); // what tfjs puts in its worker Blob
    const blobSize = Buffer.byteLength(escaped);
    fs.writeFileSync(workerFile, workerPrelude(workerFile, path.dirname(wasmPkg)) + escaped + WORKER_POSTLUDE);
    const origCreate = URL.createObjectURL, origCpus = nodeOs.cpus;
    URL.createObjectURL = (obj: Blob) =>
      obj instanceof Blob && obj.type === 'application/javascript' && obj.size === blobSize ? workerFile : origCreate(obj);
    const cpus = origCpus();
    nodeOs.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cpus[i % cpus.length]);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    let timer: NodeJS.Timeout | undefined;
    try {
      const backend = await Promise.race([
        origFactory() as Promise<WasmBackend>,
        new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error('threaded start timed out')), 30_000); }),
      ]);
      // Emscripten ref()s a worker while it runs a pthread; pthreadpool's threads run for the life of the
      // module, which would keep Node from exiting. The pool is only used synchronously from the main thread,
      // so the workers need not hold the event loop: unref them and make later ref() calls no-ops.
      const pt = backend.wasm.PThread as unknown as { unusedWorkers: NodeWorker[]; runningWorkers: NodeWorker[] } | undefined;
      for (const w of [...(pt?.runningWorkers ?? []), ...(pt?.unusedWorkers ?? [])]) { w.unref(); w.ref = () => {}; }
      const n = backend.wasm.tfjs.getThreadsCount();
      threadNote = `${n} thread${n === 1 ? '' : 's'}`;
      return backend;
    } catch (e) {
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      nodeOs.cpus = origCpus;
      threadNote = `1 thread (threaded start failed: ${(e as Error).message ?? e})`;
      return await (origFactory() as Promise<WasmBackend>);
    } finally {
      clearTimeout(timer);
      nodeOs.cpus = origCpus;
      // Later pool growth (getNewWorker) asks for the worker script again: keep answering for that Blob only.
      URL.createObjectURL = (obj: Blob) =>
        obj instanceof Blob && obj.type === 'application/javascript' && obj.size === blobSize && fs.existsSync(workerFile)
          ? workerFile : origCreate(obj);
      process.once('exit', () => { try { fs.unlinkSync(workerFile); } catch { /* already gone */ } });
    }
  };
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', threadedFactory as never, reg.priority);
}

let installed: Promise<string> | null = null;

/**
 * Call before `tf.setBackend('wasm')`. Returns a one-line description of what is in effect (the thread count is
 * only known once the backend has started; see `wasmFixesDescription()`). TFJS_WASM_THREADS=1 disables threads.
 */
export function installWasmFixes(): Promise<string> {
  installed ??= (async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    useFixedWasmKernels(true);
    try { enableNodeThreads(); } catch (e) { threadNote = `1 thread (threads not enabled: ${(e as Error).message})`; }
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    return `wasm${simd ? ' SIMD' : ''}, threads: ${threadNote || `up to ${wantedThreads()} requested`}, fixed BatchMatMul/Identity`;
  })();
  return installed;
}

/** Same as installWasmFixes' description, with the thread count actually obtained once the backend started. */
export function wasmFixesDescription(): string {
  return `wasm, ${threadNote || '1 thread'}, fixed BatchMatMul/Identity`;
}

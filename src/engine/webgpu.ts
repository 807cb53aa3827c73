/**
 * WebGPU through the npm `webgpu` package (Dawn): any vendor, no CUDA install. Optional dependency.
 *
 * What this does beyond `import '@tensorflow/tfjs-backend-webgpu'`:
 * - creates the Dawn instance itself (`create(flags)`, extra Dawn flags from CRAM_WEBGPU_DAWN_FLAGS, `;`-separated),
 *   asks for a high-performance adapter and fails with a message that says what is missing (loader, driver);
 * - requests the device with the adapter's full limits (storage binding size, buffer size, storage buffers per stage,
 *   workgroup limits) and registers a tfjs backend built on that device, so errors surface here and not as
 *   `setBackend` returning false;
 * - sets tfjs webgpu flags that avoid GPU→CPU round trips (WEBGPU_CPU_FORWARD off);
 * - replaces tfjs' synchronous readback (which needs OffscreenCanvas, absent in Node) by a clear error: in Node a GPU
 *   tensor can only be read with `await tensor.data()`. Tensors whose values are still on the host read fine.
 *
 * Limits that matter for big models: `maxBindingBytes()` (2 GiB on an H100, 128 MiB on lavapipe) bounds every tensor
 * that one kernel reads; see split-matmul.ts for weights above it.
 */
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';

export interface WebgpuInfo {
  /** vendor / architecture / device / description of the adapter, as Dawn reports them. */
  adapter: string;
  vendor: string;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxStorageBuffersPerShaderStage: number;
  features: string[];
  dawnFlags: string[];
  /** tfjs webgpu flags this module set. */
  flags: Record<string, number | boolean>;
}

interface State {
  gpu: any;
  adapter: any;
  device: any;
  info: WebgpuInfo;
  lost: string | null;
}

let state: State | null = null;

const MiB = 2 ** 20;
const fmtBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(n % 2 ** 30 ? 2 : 0)} GiB` : `${Math.round(n / MiB)} MiB`);

async function importDawn(): Promise<{ create: (flags: string[]) => any; globals: Record<string, unknown> }> {
  let mod: any;
  try {
    mod = await import('webgpu');
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/Cannot find (package|module) 'webgpu'/.test(msg) || (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error('the optional package "webgpu" is not installed (npm i webgpu; it ships Dawn for linux-x64, macOS and Windows)');
    }
    throw new Error(`the package "webgpu" failed to load (${msg.split('\n')[0]})`);
  }
  const m = mod.default ?? mod;
  if (typeof m.create !== 'function') throw new Error('the package "webgpu" does not export create()');
  return { create: m.create, globals: m.globals ?? {} };
}

function dawnFlags(): string[] {
  return (process.env.CRAM_WEBGPU_DAWN_FLAGS ?? '').split(';').map((s) => s.trim()).filter(Boolean);
}

function describeAdapter(adapter: any): { text: string; vendor: string } {
  const info = adapter.info ?? {};
  // Dawn's GPUAdapterInfo keeps its fields on the prototype: read them one by one.
  const parts = ['vendor', 'architecture', 'device', 'description'].map((k) => String(info[k] ?? '').trim()).filter(Boolean);
  return { text: [...new Set(parts)].join(' / ') || 'WebGPU adapter', vendor: String(info.vendor ?? '') };
}

/** Is there a WebGPU adapter here? Probes Dawn without touching tfjs; false (never throws) when there is none. */
export async function hasWebgpuAdapter(): Promise<boolean> {
  if (state) return true;
  try {
    if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = tmpdir();
    const { create } = await importDawn();
    const gpu = create(dawnFlags());
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    return adapter != null;
  } catch {
    return false;
  }
}

function setGlobals(globals: Record<string, unknown>, gpu: unknown): void {
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  // tfjs-backend-webgpu looks for navigator.gpu. Node ≥ 21 has a navigator of its own: add gpu to it when possible.
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  if (nav && typeof nav === 'object') {
    try {
      Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
      if (nav.gpu === gpu) return;
    } catch { /* fall through: replace navigator */ }
  }
  Object.defineProperty(globalThis, 'navigator', { value: { ...(nav ?? {}), gpu }, configurable: true, writable: true });
}

/** Flags of @tensorflow/tfjs-backend-webgpu (see its dist/flags_webgpu.js) that keep work on the GPU. */
function setTfjsFlags(): Record<string, number | boolean> {
  const env = tf.env();
  const flags: Record<string, number | boolean> = {
    // true (default) runs an op on tfjs' CPU backend when its inputs are small and on the CPU, which mixes in
    // readbacks and uploads every step; off, everything stays on the GPU.
    WEBGPU_CPU_FORWARD: false,
  };
  // Command buffers batched per queue submit (tfjs default 15). Larger = fewer submits; tunable for benchmarks.
  const batch = Number(process.env.CRAM_WEBGPU_SUBMIT_BATCH ?? '');
  if (Number.isInteger(batch) && batch > 0) flags.WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE = batch;
  for (const [k, v] of Object.entries(flags)) env.set(k, v);
  return flags;
}

/** tfjs reads GPU tensors synchronously through OffscreenCanvas, which Node lacks: make that a clear error. */
function patchReadSync(WebGPUBackend: any): void {
  const proto = WebGPUBackend.prototype;
  if (proto.__cramReadSyncPatched) return;
  const original = proto.readSync;
  proto.readSync = function (this: any, dataId: object) {
    const data = this.tensorMap.get(dataId);
    if (data && (data.values != null || data.dtype === 'string' || data.dtype === 'complex64' || typeof (globalThis as any).OffscreenCanvas !== 'undefined')) {
      return original.call(this, dataId);
    }
    throw new Error('WebGPU in Node cannot read a GPU tensor synchronously (dataSync/arraySync/bufferSync need OffscreenCanvas, '
      + 'which Node lacks): read it with `await tensor.data()` instead');
  };
  proto.__cramReadSyncPatched = true;
}

/** Starts tfjs on WebGPU (Dawn). Returns a one-line description: adapter, limits. Idempotent. */
export async function initWebgpu(): Promise<string> {
  if (state && !state.lost) {
    if (tf.getBackend() !== 'webgpu' && !(await tf.setBackend('webgpu'))) throw new Error('tfjs webgpu backend failed to initialise');
    return describe(state.info);
  }
  // Mesa's drivers (lavapipe) print an error when XDG_RUNTIME_DIR is unset.
  if (process.platform === 'linux' && !process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = tmpdir();
  const { create, globals } = await importDawn();
  const flags = dawnFlags();
  let gpu: any;
  try {
    gpu = create(flags);
  } catch (e) {
    throw new Error(`Dawn could not start (${(e as Error).message}); flags: ${JSON.stringify(flags)}`);
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error('no WebGPU adapter found: Dawn needs a Vulkan loader (libvulkan1) and a driver (a GPU\'s, or Mesa ≥ 23 '
      + 'lavapipe for software: mesa-vulkan-drivers; Debian 12\'s Mesa 22.3 lavapipe is rejected for lacking '
      + 'shaderUniform*ArrayDynamicIndexing). On NVIDIA set VK_DRIVER_FILES to nvidia_icd.json');
  }
  const lim = adapter.limits;
  const features = [...adapter.features] as string[];
  const requiredLimits: Record<string, number> = {};
  for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize',
    'maxComputeWorkgroupsPerDimension', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ',
    'maxComputeInvocationsPerWorkgroup', 'maxBindGroups', 'maxUniformBufferBindingSize']) {
    if (typeof lim[k] === 'number') requiredLimits[k] = lim[k];
  }
  const requiredFeatures = features.filter((f) => f === 'timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  if (!device) throw new Error('the WebGPU adapter returned no device');
  const { text, vendor } = describeAdapter(adapter);
  setGlobals(globals, gpu);
  const st: State = {
    gpu, adapter, device, lost: null,
    info: {
      adapter: text, vendor,
      maxStorageBufferBindingSize: Number(device.limits.maxStorageBufferBindingSize),
      maxBufferSize: Number(device.limits.maxBufferSize),
      maxStorageBuffersPerShaderStage: Number(device.limits.maxStorageBuffersPerShaderStage),
      features, dawnFlags: flags, flags: {},
    },
  };
  device.lost?.then((i: { reason?: string; message?: string }) => {
    st.lost = `${i.reason ?? 'unknown'}: ${i.message ?? ''}`;
    if (i.reason !== 'destroyed') process.stderr.write(`webgpu: device lost (${st.lost})\n`);
  });
  device.addEventListener?.('uncapturederror', (ev: { error?: { message?: string } }) => {
    process.stderr.write(`webgpu: uncaptured error: ${ev.error?.message ?? ev}\n`);
  });

  // Gradients are registered by the @tensorflow/tfjs bundle (backend.ts imports it too; this keeps initWebgpu usable alone).
  await import('@tensorflow/tfjs');
  // Import after navigator.gpu exists; drop the package's own factory (it would request a second adapter and device).
  const pkg: any = await import('@tensorflow/tfjs-backend-webgpu');
  const WebGPUBackend = pkg.WebGPUBackend ?? pkg.default?.WebGPUBackend;
  if (!WebGPUBackend) throw new Error('@tensorflow/tfjs-backend-webgpu does not export WebGPUBackend');
  patchReadSync(WebGPUBackend);
  st.info.flags = setTfjsFlags();
  try { tf.removeBackend('webgpu'); } catch { /* not registered: navigator.gpu was absent when the package was first imported */ }
  const backend = new WebGPUBackend(device, adapter.info);
  tf.registerBackend('webgpu', () => backend, 3);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs webgpu backend failed to initialise');
  state = st;
  return describe(st.info);
}

function describe(i: WebgpuInfo): string {
  return `${i.adapter}; maxStorageBufferBindingSize ${fmtBytes(i.maxStorageBufferBindingSize)}, maxBufferSize ${fmtBytes(i.maxBufferSize)}`
    + (i.dawnFlags.length ? `; dawn ${i.dawnFlags.join(' ')}` : '');
}

/** The adapter's maxStorageBufferBindingSize in bytes while tfjs runs on webgpu; null otherwise. */
export function maxBindingBytes(): number | null {
  if (!state || state.lost || tf.getBackend() !== 'webgpu') return null;
  return state.info.maxStorageBufferBindingSize;
}

/** Adapter and limits of the active WebGPU device (null before initWebgpu). */
export function webgpuInfo(): WebgpuInfo | null {
  return state ? { ...state.info } : null;
}

/**
 * Releases the device and the Dawn instance so that Node can exit (dawn.node keeps the process alive while
 * navigator.gpu holds the instance). tfjs' webgpu backend is removed; initWebgpu() may be called again.
 */
export function shutdownWebgpu(): void {
  if (!state) return;
  try { tf.removeBackend('webgpu'); } catch { /* already gone */ }
  try { state.device.destroy(); } catch { /* ignore */ }
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  if (nav && nav.gpu === state.gpu) {
    try { delete nav.gpu; } catch { /* ignore */ }
  }
  state = null;
}

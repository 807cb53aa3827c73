/**
 * Picks and initialises the tfjs backend. `auto` takes the fastest that works here:
 * webgpu (npm `webgpu` finds an adapter) → tensorflow (user-installed tfjs-node / -node-gpu) → wasm (SIMD + threads) → cpu.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core alone registers no gradients; the @tensorflow/tfjs bundle registers them (autodiff to the [mem] vectors).
import '@tensorflow/tfjs';

export const BACKENDS = ['auto', 'wasm', 'webgpu', 'tensorflow', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface BackendInfo { name: string; detail: string }

let active: BackendInfo | null = null;

export function activeBackend(): BackendInfo | null {
  return active;
}

async function tryWasm(): Promise<string> {
  await import('@tensorflow/tfjs-backend-wasm');
  const { installWasmFixes, wasmFixesDescription } = await import('./wasm-kernels.ts');
  await installWasmFixes();
  const before = { u: process.listeners('uncaughtException'), r: process.listeners('unhandledRejection') };
  const ok = await tf.setBackend('wasm');
  // Emscripten's Node glue installs handlers that rethrow every uncaught error after printing the whole minified
  // module; remove them so errors read as our own messages.
  for (const l of process.listeners('uncaughtException')) if (!before.u.includes(l)) process.removeListener('uncaughtException', l);
  for (const l of process.listeners('unhandledRejection')) if (!before.r.includes(l)) process.removeListener('unhandledRejection', l);
  if (!ok) throw new Error('tfjs wasm backend failed to initialise');
  return wasmFixesDescription();
}

async function tryWebgpu(auto: boolean): Promise<string> {
  const { initWebgpu } = await import('./webgpu.ts');
  const detail = await initWebgpu();
  // A software adapter (Mesa llvmpipe/lavapipe, SwiftShader) is far slower than wasm: `auto` passes it over.
  if (auto && /llvmpipe|lavapipe|swiftshader|software/i.test(detail)) throw new Error(`only a software adapter (${detail.slice(0, 60)}…); use --backend webgpu to force it`);
  return detail;
}

async function tryTensorflow(): Promise<string> {
  // Optional: only present when the user installed it (its installer downloads libtensorflow, which fails offline).
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) return pkg;
    } catch { /* not installed */ }
  }
  throw new Error('neither @tensorflow/tfjs-node nor @tensorflow/tfjs-node-gpu is installed (npm i @tensorflow/tfjs-node to use it)');
}

async function tryCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error('tfjs cpu backend failed to initialise');
  // Silence its one-time "install tfjs-node" banner: our stdout is JSON and stderr is progress.
  (tf.findBackend('cpu') as unknown as { firstUse: boolean }).firstUse = false;
  return 'plain JavaScript (slow: toy sizes only)';
}

/** Dawn needs a Vulkan loader on Linux; without one it only prints a warning, so `auto` skips it quietly. */
function hasVulkanLoader(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib',
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  return dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
}

const STARTERS: Record<Exclude<BackendChoice, 'auto'>, (auto: boolean) => Promise<string>> = {
  webgpu: tryWebgpu, tensorflow: tryTensorflow, wasm: tryWasm, cpu: tryCpu,
};

/** Initialises the requested backend (idempotent for the same choice). Throws a clear error when it cannot. */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  if (!BACKENDS.includes(choice)) throw new Error(`unknown backend "${choice}"; choose one of ${BACKENDS.join(', ')}`);
  if (active && (choice === 'auto' || choice === active.name)) return active;
  const order: Exclude<BackendChoice, 'auto'>[] = choice === 'auto' ? ['webgpu', 'tensorflow', 'wasm', 'cpu'] : [choice];
  const errors: string[] = [];
  if (choice === 'auto' && !hasVulkanLoader()) {
    order.shift();
    errors.push('webgpu: skipped (no Vulkan loader libvulkan.so.1 on this machine)');
  }
  for (const name of order) {
    try {
      const detail = await STARTERS[name](choice === 'auto');
      await tf.ready();
      active = { name: tf.getBackend(), detail };
      return active;
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no usable tfjs backend for "${choice}":\n  ${errors.join('\n  ')}`);
}

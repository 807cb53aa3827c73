/**
 * The backends a user can ask for, and starting one. Importing this module loads no tensor engine (config validation
 * uses BACKENDS); ONNX Runtime is loaded when a backend is started.
 */
export const BACKENDS = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface BackendInfo { name: string; detail: string }

/** Starts ONNX Runtime with the requested execution provider (see runtime.ts). */
export async function initBackend(choice: BackendChoice = 'auto') {
  const { initRuntime } = await import('./runtime.ts');
  return initRuntime(choice);
}

/** The started backend, if any. */
export async function activeBackend() {
  const { activeRuntime } = await import('./runtime.ts');
  return activeRuntime();
}

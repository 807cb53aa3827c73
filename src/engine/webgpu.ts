/** WebGPU through the npm `webgpu` package (Dawn): any vendor, no CUDA install. Optional dependency. */
import * as tf from '@tensorflow/tfjs-core';

export async function initWebgpu(): Promise<string> {
  let webgpu: any;
  try {
    webgpu = await import('webgpu');
  } catch {
    throw new Error('the optional package "webgpu" is not installed');
  }
  const { create, globals } = webgpu.default ?? webgpu;
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter found (no Vulkan/Metal/D3D GPU or driver)');
  // tfjs-backend-webgpu looks for navigator.gpu.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs webgpu backend failed to initialise');
  const info = adapter.info ?? {};
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'WebGPU adapter';
}

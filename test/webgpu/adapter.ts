/**
 * The webgpu test set's gate: the WebGPU backend on the software adapter that `npm run test:webgpu` sets up
 * (run.mjs). Without an adapter the tests skip with one line, except in CI (CI=true under run.mjs), where that is a
 * failure: CI installs chromium for its SwiftShader driver.
 */
import { test } from 'node:test';
import { initRuntime, type Runtime } from '../../src/engine/runtime.ts';

export const IN_SUITE = process.env.CRAM_WEBGPU_SUITE === '1';

/** The webgpu runtime, or null after registering one skipped test that says why. Throws in CI without an adapter. */
export async function webgpuOrSkip(): Promise<Runtime | null> {
  if (!IN_SUITE) {
    test('webgpu tests', { skip: 'run by `npm run test:webgpu` (it sets up the software Vulkan adapter)' }, () => {});
    return null;
  }
  try {
    return await initRuntime('webgpu');
  } catch (e) {
    const why = `no WebGPU adapter: ${(e as Error).message.split('\n')[0]}`;
    if (process.env.CI === 'true')
      throw new Error(`${why} (CI must have one: apt-get install chromium for SwiftShader)`);
    test('webgpu tests', { skip: `${why}; install Debian's chromium package (SwiftShader) to run them` }, () => {});
    return null;
  }
}

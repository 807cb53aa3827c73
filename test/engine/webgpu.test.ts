/**
 * The webgpu backend (Dawn via npm `webgpu`) against the Hugging Face references, as test/models/verify-reference
 * does on wasm. Runs only where a WebGPU adapter exists (a GPU with its Vulkan driver, or Mesa ≥ 23 lavapipe:
 * `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`); skipped elsewhere (CI).
 * Uses async readbacks: tfjs' webgpu backend cannot dataSync() in Node.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { hasWebgpuAdapter, initWebgpu, maxBindingBytes, shutdownWebgpu } from '../../src/engine/webgpu.ts';
import { loadModel } from '../../src/models/load.ts';
import { checkAgainstReference, readReference, verifyModel } from '../../src/cram/verify.ts';

const here = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));
const available = process.env.CRAM_SKIP_WEBGPU ? false : await hasWebgpuAdapter();
const skip = available ? false : 'no WebGPU adapter (needs the npm package webgpu, a Vulkan loader and a GPU driver or Mesa ≥ 23 lavapipe)';

after(() => shutdownWebgpu());

test('webgpu starts and reports its binding limit', { skip }, async () => {
  const detail = await initWebgpu();
  assert.equal(tf.getBackend(), 'webgpu');
  assert.match(detail, /maxStorageBufferBindingSize \d/);
  const max = maxBindingBytes();
  assert.ok(max !== null && max >= 128 * 2 ** 20, `maxBindingBytes ${max}`);
  assert.equal(tf.env().getBool('WEBGPU_CPU_FORWARD'), false);
});

test('webgpu: a synchronous read of a GPU result fails with a clear message; data() works', { skip }, async () => {
  await initWebgpu();
  const y = tf.add(tf.tensor1d([1, 2, 3]), 1);
  assert.throws(() => y.dataSync(), /await tensor\.data\(\)/);
  assert.deepEqual(Array.from(await y.data()), [2, 3, 4]);
  y.dispose();
});

const CASES = [
  ...['tiny-gpt2', 'tiny-gpt-neox', 'tiny-llama-gqa-untied', 'tiny-opt'].map((m) => ({ dir: here(`../fixtures/tiny-hf/${m}`), exact: true })),
  ...['gutenberg-llama-xs', 'gutenberg-llama-s'].map((m) => ({ dir: here(`../../models/${m}`), exact: false })),
];

for (const { dir, exact } of CASES) {
  test(`webgpu verify matches Hugging Face: ${dir.split('/').pop()}`, { skip }, async () => {
    await initWebgpu();
    const ref = readReference(join(dir, 'reference.json'));
    const { model } = await loadModel(dir, { tokenizer: false });
    try {
      const c = checkAgainstReference(await verifyModel(model, ref), ref, exact);
      assert.ok(c.ok, c.failures.join('; '));
    } finally {
      model.dispose();
    }
  });
}

/** The harness against Hugging Face transformers' own numbers (reference.json), every supported architecture. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../../src/models/load.ts';
import { checkAgainstReference, readReference, verify } from '../../src/cram/verify.ts';
import { bundled, cosine, fixture, ready, relErr, relL2 } from '../helpers.ts';

// tiny-hf: exact float32 references (CPU). gutenberg: made with TF32 matmuls on an H100, so looser.
const CASES = [
  ...['tiny-gpt2', 'tiny-gpt-neox', 'tiny-llama-gqa-untied', 'tiny-opt'].map((m) => ({ dir: fixture(`tiny-hf/${m}`), exact: true })),
  ...['gutenberg-llama-xs', 'gutenberg-llama-s', 'gutenberg-llama-m'].map((m) => ({ dir: bundled(m), exact: false })),
];

for (const { dir, exact } of CASES) {
  test(`verify matches Hugging Face: ${dir.split('/').pop()}`, async () => {
    await ready;
    const ref = readReference(join(dir, 'reference.json'));
    const loaded = await loadModel(dir, { tokenizer: typeof ref.text === 'string' });
    try {
      const r = await verify(loaded, ref);
      const check = checkAgainstReference(r, ref, exact);
      assert.ok(check.ok, check.failures.join('; '));
      const lossTol = exact ? 1e-5 : 1e-4;
      assert.ok(relErr(r.loss_no_mem, ref.loss_no_mem as number) < lossTol, `loss_no_mem ${r.loss_no_mem} vs ${ref.loss_no_mem}`);
      assert.ok(relErr(r.loss_with_mem, ref.loss_with_mem as number) < lossTol, `loss_with_mem ${r.loss_with_mem} vs ${ref.loss_with_mem}`);
      // Reference accuracies are float32 values of k/(N-1).
      assert.ok(Math.abs(r.accuracy_no_mem - (ref.accuracy_no_mem as number)) < 1e-6, `accuracy_no_mem ${r.accuracy_no_mem}`);
      assert.ok(Math.abs(r.accuracy_with_mem - (ref.accuracy_with_mem as number)) < 1e-6, `accuracy_with_mem ${r.accuracy_with_mem}`);
      const g = ref.grad_mem as number[];
      const err = relL2(r.grad_mem, g);
      if (exact) assert.ok(err < 1e-4, `grad relative L2 error ${err}`);
      else {
        assert.ok(err < 5e-3, `grad relative L2 error ${err}`);
        assert.ok(cosine(r.grad_mem, g) > 0.9999, `grad cosine ${cosine(r.grad_mem, g)}`);
      }
      assert.ok(relErr(r.embedding_std, ref.embedding_std as number) < 1e-5);
      if (typeof ref.text === 'string') assert.deepEqual(r.token_ids, ref.input_ids);
    } finally {
      loaded.model.dispose();
    }
  });
}

// Weights too large for one WebGPU binding are split into row blocks; forcing a tiny limit on wasm exercises the
// same path (embedding lookup, tied and untied heads, Conv1D) against the same references.
for (const { dir, exact } of CASES.slice(0, 5)) {
  test(`row-block split weights match Hugging Face too: ${dir.split('/').pop()}`, async () => {
    await ready;
    const ref = readReference(join(dir, 'reference.json'));
    process.env.CRAM_MAX_BINDING_BYTES = String(48 * 1024);
    let loaded;
    try {
      loaded = await loadModel(dir, { tokenizer: false });
    } finally {
      delete process.env.CRAM_MAX_BINDING_BYTES;
    }
    try {
      assert.equal(loaded.model.head.matrix.constructor.name, 'SplitWeight');
      const check = checkAgainstReference(await verify(loaded, ref), ref, exact);
      assert.ok(check.ok, check.failures.join('; '));
    } finally {
      loaded.model.dispose();
    }
  });
}

/**
 * The harness against Hugging Face transformers' own numbers (reference.json): every fixture folder and every bundled
 * model that has one, and at least one fixture for every architecture in the registry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkAgainstReference, readReference, verify } from '../../src/cram/verify.ts';
import { buildObjectiveGraph } from '../../src/cram/objective.ts';
import { readConfigJson } from '../../src/models/load.ts';
import { ARCHITECTURES } from '../../src/models/registry.ts';
import { bundled, cosine, fixture, open, relErr, relL2 } from '../helpers.ts';

const withReference = (root: string) =>
  existsSync(root)
    ? readdirSync(root)
        .map((n) => join(root, n))
        .filter((d) => existsSync(join(d, 'reference.json')))
    : [];
// Fixture folders (test/fixtures/hf/<model>): exact float32 references made on CPU. Bundled models: made with TF32
// matmuls on an H100, so looser.
const CASES = [
  ...withReference(fixture('hf')).map((dir) => ({ dir, exact: true })),
  ...withReference(bundled('')).map((dir) => ({ dir, exact: false })),
];

test('every registered architecture has a reference fixture', () => {
  const covered = new Set(CASES.map((c) => String(readConfigJson(join(c.dir, 'config.json')).model_type)));
  for (const arch of ARCHITECTURES)
    assert.ok(
      arch.modelTypes.some((t) => covered.has(t)),
      `no reference fixture for ${arch.modelTypes.join('/')}`,
    );
});

for (const { dir, exact } of CASES) {
  test(`verify matches Hugging Face: ${dir.split('/').slice(-2).join('/')}`, async () => {
    const ref = readReference(join(dir, 'reference.json'));
    const loaded = await open(dir, { tokenizer: typeof ref.text === 'string' });
    try {
      const r = await verify(loaded, loaded.compiled, ref);
      const check = checkAgainstReference(r, ref, exact);
      assert.ok(check.ok, check.failures.join('; '));
      const lossTol = exact ? 1e-5 : 1e-4;
      assert.ok(
        relErr(r.loss_no_mem, ref.loss_no_mem as number) < lossTol,
        `loss_no_mem ${r.loss_no_mem} vs ${ref.loss_no_mem}`,
      );
      assert.ok(
        relErr(r.loss_with_mem, ref.loss_with_mem as number) < lossTol,
        `loss_with_mem ${r.loss_with_mem} vs ${ref.loss_with_mem}`,
      );
      // Reference accuracies are float32 values of k/(N-1).
      assert.ok(
        Math.abs(r.accuracy_no_mem - (ref.accuracy_no_mem as number)) < 1e-6,
        `accuracy_no_mem ${r.accuracy_no_mem}`,
      );
      assert.ok(
        Math.abs(r.accuracy_with_mem - (ref.accuracy_with_mem as number)) < 1e-6,
        `accuracy_with_mem ${r.accuracy_with_mem}`,
      );
      const g = ref.grad_mem as number[];
      const err = relL2(r.grad_mem, g);
      if (exact) assert.ok(err < 1e-5, `grad relative L2 error ${err}`);
      else {
        assert.ok(err < 5e-3, `grad relative L2 error ${err}`);
        assert.ok(cosine(r.grad_mem, g) > 0.9999, `grad cosine ${cosine(r.grad_mem, g)}`);
      }
      assert.ok(relErr(r.embedding_std, ref.embedding_std as number) < 1e-5);
      if (typeof ref.text === 'string') assert.deepEqual(r.token_ids, ref.input_ids);
    } finally {
      await loaded.compiled.release();
    }
  });
}

// Weights too large for one WebGPU storage binding are used as row blocks (external initializers over byte ranges of
// the same file); forcing a tiny limit on the CPU provider exercises that path (embedding lookup across blocks, tied
// and untied heads) against the same references.
// One fixture per original architecture, and Mamba.
const ROW_BLOCK_FIXTURES = ['tiny-gpt-neox', 'tiny-gpt2', 'tiny-llama-gqa-untied', 'tiny-mamba', 'tiny-opt'];
for (const { dir, exact } of CASES.filter((c) => c.exact && ROW_BLOCK_FIXTURES.includes(c.dir.split('/').pop()!))) {
  test(`row-block split weights match Hugging Face too: ${dir.split('/').pop()}`, async () => {
    const ref = readReference(join(dir, 'reference.json'));
    const loaded = await open(dir, { tokenizer: false });
    process.env.CRAM_MAX_BINDING_BYTES = String(48 * 1024);
    try {
      const blocks = [...buildObjectiveGraph(loaded.model, { grad: true }).external.keys()].filter((k) =>
        k.includes('.rows'),
      );
      assert.ok(blocks.length >= 2, `expected row blocks, got ${blocks.join(', ')}`);
      const r = await verify(loaded, loaded.compiled, ref);
      const check = checkAgainstReference(r, ref, exact);
      assert.ok(check.ok, check.failures.join('; '));
    } finally {
      delete process.env.CRAM_MAX_BINDING_BYTES;
      await loaded.compiled.release();
    }
  });
}

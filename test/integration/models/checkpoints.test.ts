/**
 * Checkpoints laid out as the hub's real ones (test/fixtures/checkpoints/, made by scripts/make_checkpoints.py): for
 * every supported model_type, the published config.json of a real model with only depth, width and vocabulary shrunk
 * (v4 key layout, torch_dtype, extra keys, Python's `Infinity`), weights saved by transformers in bf16 and in fp32,
 * sharded with model.safetensors.index.json, tied embeddings absent from the files. Each must load and match
 * transformers' own float32 numbers on that folder. Tolerances are the exact ones (loss 1e-5 relative, gradient 1e-4
 * relative L2) for bf16 too: the harness and the reference both upcast the stored bf16 values to float32 exactly and
 * compute in float32, so storage precision adds no error of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkAgainstReference, readReference, verify } from '../../../src/cram/verify.ts';
import { readConfigJson } from '../../../src/models/load.ts';
import { configParameterCount } from '../../../src/models/param-count.ts';
import { ARCHITECTURES } from '../../../src/models/registry.ts';
import { fixture, open } from '../../helpers.ts';

const ROOT = fixture('checkpoints');
const DIRS = readdirSync(ROOT)
  .map((n) => join(ROOT, n))
  .filter((d) => existsSync(join(d, 'reference.json')));

test('every registered architecture has a sharded bf16 and fp32 checkpoint', () => {
  for (const arch of ARCHITECTURES) {
    for (const dtype of ['bfloat16', 'float32']) {
      const has = DIRS.some((d) => {
        const c = readConfigJson(join(d, 'config.json'));
        return arch.modelTypes.includes(String(c.model_type)) && c.torch_dtype === dtype;
      });
      assert.ok(has, `no ${dtype} checkpoint for ${arch.modelTypes.join('/')}`);
    }
  }
});

for (const dir of DIRS) {
  const name = dir.split('/').pop()!;
  test(`hub-layout checkpoint loads and matches transformers: ${name}`, async () => {
    const indexFile = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { weight_map: Record<string, string> };
    assert.ok(new Set(Object.values(index.weight_map)).size >= 2, 'fixture is not sharded');
    assert.ok(!existsSync(join(dir, 'model.safetensors')));
    const ref = readReference(join(dir, 'reference.json'));
    const loaded = await open(dir, { tokenizer: false });
    try {
      const stored = readConfigJson(join(dir, 'config.json')).torch_dtype;
      assert.equal(loaded.config.dtype, stored);
      const kinds = new Set([...loaded.model.weights.entries.values()].map((e) => e.dtype));
      // bf16 checkpoints are read through the float32 cache; either way the graph sees the stored values.
      assert.ok(kinds.size === 1, `mixed weight dtypes ${[...kinds]}`);
      if (ref.tied_word_embeddings === true) {
        const head = Object.keys(index.weight_map).filter((k) => /lm_head|embed_out/.test(k));
        assert.deepEqual(head, [], 'tied head stored in the file');
      }
      const r = await verify(loaded, loaded.compiled, ref);
      const check = checkAgainstReference(r, ref, true);
      assert.ok(check.ok, check.failures.join('; '));
    } finally {
      await loaded.compiled.release();
    }
  });
}

test("weights counted from config.json alone equal transformers' count, every fixture and paper model", () => {
  // Every folder with transformers' count: hub-layout checkpoints, the tiny reference fixtures, and the paper models at
  // full size (parameters.json: transformers on the meta device).
  const roots = readdirSync(fixture('')).filter((n) => n === 'checkpoints' || n.startsWith('tiny-hf') || n === 'hf');
  const folders = roots
    .flatMap((r) => readdirSync(fixture(r)).map((n) => join(fixture(r), n)))
    .filter((d) => existsSync(join(d, 'reference.json')));
  let checked = 0;
  for (const d of folders) {
    const ref = JSON.parse(readFileSync(join(d, 'reference.json'), 'utf8')) as { params?: number };
    if (typeof ref.params !== 'number') continue;
    assert.equal(configParameterCount(readConfigJson(join(d, 'config.json'))), ref.params, d);
    checked++;
  }
  assert.ok(checked >= 40, `only ${checked} folders with a parameter count`);
  const paper = fixture('paper-configs');
  for (const name of readdirSync(paper)) {
    const want = JSON.parse(readFileSync(join(paper, name, 'parameters.json'), 'utf8')).parameters;
    assert.equal(configParameterCount(readConfigJson(join(paper, name, 'config.json'))), want, name);
  }
});

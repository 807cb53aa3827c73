/**
 * The memory plan by precision (src/cram/fits.ts) on a fixed config, Llama-3.1-8B's config.json without weights:
 * weights by dtype, activations, batch-1 totals and the largest batch per device budget (`cram check` printing it:
 * test/integration/precision/check-plan.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  activationBytesPerText,
  maxTokensFitting,
  memoryPlan,
  planForModelDir,
  shapeFromConfig,
} from '../../src/cram/limits.ts';
import { bundled, fixture } from '../helpers.ts';

const dir = fixture('precision/llama-3.1-8b-config');
const TOKENS = 1569; // 1568 text tokens + one [mem] vector

test('the 8B shape from config.json alone: the published parameter count, weights by dtype', () => {
  const plan = planForModelDir(dir, TOKENS)!;
  assert.ok(plan, 'a plan from config.json');
  assert.equal(plan.shape.weightElements, 8_030_261_248, 'Llama-3.1-8B has 8,030,261,248 parameters');
  assert.match(plan.weightsFrom, /config\.json/);
  const row = (backend: string, precision: string) =>
    plan.rows.find((r) => r.backend === backend && r.precision === precision)!;
  assert.equal(row('cuda', 'float32').weights_bytes, 8_030_261_248 * 4);
  assert.equal(row('cuda', 'bfloat16').weights_bytes, 8_030_261_248 * 2);
  assert.equal(row('webgpu', 'float16').weights_bytes, 8_030_261_248 * 2);
  assert.equal(
    plan.rows.find((r) => r.backend === 'webgpu' && r.precision === 'bfloat16'),
    undefined,
    'webgpu bfloat16 is refused, so not planned',
  );
  // cpu emulates half products: its weights cost more than float32, never less.
  assert.ok(row('cpu', 'bfloat16').weights_bytes > row('cpu', 'float32').weights_bytes);
});

test('the plan is consistent: batch-1 totals against budgets, activations growing with length, max batch by budget', () => {
  const shape = planForModelDir(dir, TOKENS)!.shape;
  for (const r of memoryPlan(shape, TOKENS)) {
    for (const [name, bytes] of Object.entries({ '24GB': 24e9, '80GB': 80e9 })) {
      assert.equal(r.max_batch[name] >= 1, r.total_batch1_bytes <= bytes, `${r.backend} ${r.precision} ${name}`);
      if (r.max_batch[name] >= 1)
        assert.ok(r.total_batch1_bytes - r.activations_bytes + r.max_batch[name] * r.activations_bytes <= bytes);
    }
  }
  // Attention scores make activations grow faster than linearly with the text.
  assert.ok(activationBytesPerText(shape, 2 * TOKENS) > 2 * activationBytesPerText(shape, TOKENS));
  // The 8B question: bf16 weights alone (16 GB) fit 24 GB, a 1568-token step does not; the longest text that fits is given.
  const bf16 = memoryPlan(shape, TOKENS, ['cuda'], ['bfloat16'])[0];
  assert.ok(bf16.weights_bytes < 24e9 && bf16.max_batch['24GB'] === 0);
  const longest = maxTokensFitting(shape, 'cuda', 'bfloat16', 24e9);
  assert.ok(longest > 0 && longest < TOKENS);
  assert.ok(memoryPlan(shape, longest, ['cuda'], ['bfloat16'])[0].max_batch['24GB'] === 1);
  assert.ok(memoryPlan(shape, longest + 1, ['cuda'], ['bfloat16'])[0].max_batch['24GB'] === 0);
});

test('weights counted from safetensors headers agree with the config-only count for a bundled Llama', () => {
  const fromHeaders = planForModelDir(bundled('gutenberg-llama-xs'), 64)!;
  assert.match(fromHeaders.weightsFrom, /safetensors/);
  const raw = JSON.parse(readFileSync(join(bundled('gutenberg-llama-xs'), 'config.json'), 'utf8'));
  assert.equal(shapeFromConfig(raw, null)!.weightElements, fromHeaders.shape.weightElements);
});

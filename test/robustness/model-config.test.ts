/**
 * Hostile or inconsistent model configs (issue 26, items 1 and 3): sizes are bounded from config.json before anything
 * is sized from them, and config and weights are cross-checked at load. Each error is one line naming the file and
 * the field. No tensor engine session is started.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeModel } from '../../src/experiments/model-info.ts';
import { checkConfigLimits } from '../../src/models/config-limits.ts';
import { loadModel } from '../../src/models/load.ts';
import { bundled } from '../helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'cram-hostile-config-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** A copy of a model folder (weights and tokenizer linked by copy) with config.json edited by `edit`. */
function editedModel(src: string, name: string, edit: (c: Record<string, any>) => void): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    try { copyFileSync(join(src, f), join(dir, f)); } catch { /* optional files */ }
  }
  const c = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  return dir;
}

const XS = bundled('gutenberg-llama-xs');

for (const [field, value] of [['num_hidden_layers', 1e9], ['hidden_size', 1e9], ['vocab_size', 1e12], ['intermediate_size', 1e9],
  ['num_attention_heads', 1e9], ['head_dim', 1e9], ['max_position_embeddings', 1e15], ['num_hidden_layers', 0],
  ['hidden_size', 12.5], ['num_key_value_heads', -2]] as const) {
  test(`config.json ${field}: ${value} is refused in well under a second, naming the file and the field`, async () => {
    const dir = editedModel(XS, `${field}-${value}`, (c) => { c[field] = value; });
    const t0 = performance.now();
    assert.throws(() => describeModel(dir), (e: Error) => e.message.includes(join(dir, 'config.json')) && e.message.includes(field)
      && !e.message.includes('\n'));
    await assert.rejects(loadModel(dir, { tokenizer: false }), new RegExp(`config\\.json: ${field}`));
    assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
  });
}

test('sizes within bounds but far beyond memory are refused against the memory ceiling', () => {
  const c = { model_type: 'llama', num_hidden_layers: 1000, hidden_size: 65536, num_attention_heads: 64, intermediate_size: 200000, vocab_size: 256000 };
  assert.throws(() => checkConfigLimits(c, 'x/config.json', 64 * 2 ** 30),
    /x\/config\.json: num_hidden_layers 1000, hidden_size 65536, vocab_size 256000 imply at least \d+\.\d GiB of float32 weights, above the memory ceiling of 64\.0 GiB/);
  // the bundled models pass
  for (const m of ['gutenberg-llama-xs', 'gutenberg-llama-s', 'gutenberg-llama-m']) {
    checkConfigLimits(JSON.parse(readFileSync(join(bundled(m), 'config.json'), 'utf8')), m, 2 ** 30);
  }
});

test('rope_theta <= 0 or non-finite is refused, at top level and inside rope_parameters', () => {
  for (const edit of [(c: any) => { c.rope_parameters.rope_theta = -1; }, (c: any) => { c.rope_parameters.rope_theta = 0; },
    (c: any) => { delete c.rope_parameters; c.rope_theta = -1; }, (c: any) => { c.rope_parameters.rope_theta = 'big'; }]) {
    const dir = editedModel(XS, `theta-${Math.random()}`, edit);
    assert.throws(() => describeModel(dir), /config\.json: (rope_parameters\.)?rope_theta .* must be a positive finite number/);
  }
});

/**
 * `cram check` prints the memory plan per backend and precision from config.json alone: the fixture holds Llama-3.1-8B's
 * config.json and no weights, so nothing can be loaded (a separate process, hence an integration test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundled, fixture } from '../../helpers.ts';

const dir = fixture('precision/llama-3.1-8b-config');

test('cram check prints the plan per backend and precision without loading weights', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'plan-'));
  const model = join(tmp, 'llama-3.1-8b');
  mkdirSync(model);
  copyFileSync(join(dir, 'config.json'), join(model, 'config.json'));
  copyFileSync(bundled('gutenberg-llama-xs/tokenizer.json'), join(model, 'tokenizer.json')); // planning tokenizes texts
  const config = join(tmp, 'c.yaml');
  writeFileSync(
    config,
    `name: plan\nmodels: [${model}]\nsources: [random-words]\nlengths: [8]\nrandom_max_length: 1568\nrandom_samples: 3\nprecision: bfloat16\noutput_dir: ${tmp}/results\n`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', config, '--json'], {
    encoding: 'utf8',
    cwd: new URL('../../..', import.meta.url).pathname,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const m = out.models[0];
  assert.equal(m.precision, 'bfloat16');
  const rows = m.memory_plan as { backend: string; precision: string; weights_bytes: number }[];
  assert.deepEqual(new Set(rows.map((x) => x.backend)), new Set(['cpu', 'cuda', 'webgpu']));
  assert.equal(rows.find((x) => x.backend === 'cuda' && x.precision === 'bfloat16')!.weights_bytes, 8_030_261_248 * 2);
});

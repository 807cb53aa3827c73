/**
 * Validating and planning a config, listing kinds, rewriting a report and reading the store never load the tensor
 * engine: each command runs to completion with a hook that fails any import resolving into tfjs or src/engine/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture } from '../helpers.ts';
import { syntheticRecords } from '../report/synthetic.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cramNoEngine = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--import', fixture('forbid-engine.mjs'), 'src/cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8' });

test('the hook does catch the engine (cram run imports it)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', fixture('forbid-engine.mjs'), '-e', "await import('./src/experiments/model-session.ts')"], { cwd: ROOT, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /tensor engine loaded: .*(@tensorflow|src\/engine)/);
});

test('cram check (config validation, models, tokenizers, texts, plan) runs without the engine', () => {
  const r = cramNoEngine('check', 'configs/quick.yaml', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.experiment, 'capacity');
  assert.equal(out.models[0].model, 'gutenberg-llama-s');
  assert.equal(out.models[0].items, 6 * 4 * 4 + 6 * 4);
});

test('cram kinds and store reads run without the engine', () => {
  const k = cramNoEngine('kinds');
  assert.equal(k.status, 0, k.stderr);
  assert.match(k.stdout, /^capacity\t/m);
  const dir = mkdtempSync(join(tmpdir(), 'cram-noengine-'));
  try {
    const s = cramNoEngine('store', 'list', '--store', join(dir, 'none.db'));
    assert.equal(s.status, 1);
    assert.doesNotMatch(s.stderr, /tensor engine loaded/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cram report rewrites a run without the engine and says which samples.jsonl lines it skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cram-report-'));
  try {
    const run = join(dir, 'run');
    mkdirSync(run);
    const lines = syntheticRecords({ lengths: [16, 32], nMem: [1], samplesPerLength: 2 }).map((r) => JSON.stringify(r));
    lines.splice(2, 0, '{"run":"x","model":"pythia-s","sou'); // a damaged line in the middle
    writeFileSync(join(run, 'samples.jsonl'), lines.join('\n') + '\n');
    const r = cramNoEngine('report', run);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /samples\.jsonl: 1 unreadable line skipped \(line 3;/);
    assert.match(readFileSync(join(run, 'report.md'), 'utf8'), /samples\.jsonl: 1 unreadable line skipped \(line 3;/);
    assert.equal(readFileSync(join(run, 'results.csv'), 'utf8').trim().split('\n').length, 1 + lines.length - 1);
    assert.ok(existsSync(join(run, 'figures', 'accuracy_vs_length.png')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

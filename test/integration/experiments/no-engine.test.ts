/**
 * Validating and planning a config, listing kinds, rewriting a report and reading the store never load the tensor
 * engine: each command runs to completion with a hook that fails any import resolving into ONNX Runtime, src/engine/runtime.ts
 * or src/cram/compiled-model.ts (the graph builder alone is plain TypeScript and may load).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cramNoEngine, ROOT } from './setup.ts';
import { tmpFolder } from '../../scratch.ts';
import { fixture } from '../../helpers.ts';
import { syntheticRecords } from '../../report/synthetic.ts';
import { writeVectorFile } from '../../../src/cram/vector-file.ts';
import { MemoryStore } from '../../../src/compress/store.ts';

test('the hook does catch the engine (cram run imports it)', () => {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      fixture('forbid-engine.mjs'),
      '-e',
      "const m = await import('./src/run/model-session.ts'); await m.startBackend('cpu')",
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /tensor engine loaded: .*(onnxruntime|src\/engine\/runtime)/);
});

test('cram check (config validation, models, tokenizers, texts, plan) runs without the engine', () => {
  const r = cramNoEngine('check', 'configs/quick.yaml', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.experiment, 'capacity');
  assert.equal(out.models[0].model, 'gutenberg-llama-s');
  assert.equal(out.models[0].items, 6 * 4 * 4 + 6 * 4);
});

test('cram kinds runs without the engine; reading a store that does not exist creates none', (t) => {
  // Through the package's bin (bin/cram.js registers tsx itself).
  const k = spawnSync(process.execPath, ['--import', fixture('forbid-engine.mjs'), 'bin/cram.js', 'kinds'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(k.status, 0, k.stderr);
  assert.match(k.stdout, /^capacity\t/m);
  const dir = tmpFolder(t, 'cram-noengine-');
  const s = cramNoEngine('store', 'list', '--store', join(dir, 'typo.db'));
  assert.equal(s.status, 1);
  assert.match(s.stderr, /^error: no store at .*typo\.db \(nothing was ever added there\)/);
  assert.equal(existsSync(join(dir, 'typo.db')), false, 'store list must not create a database');
  // get and rm open the store the same way (create: false).
  assert.throws(() => new MemoryStore({ path: join(dir, 'other.db'), create: false }), /no store at/);
  assert.equal(existsSync(join(dir, 'other.db')), false);
});

test('bad command input fails before the engine starts, naming the cause', (t) => {
  const dir = tmpFolder(t, 'cram-noengine-');
  const text = join(dir, 'in.txt');
  writeFileSync(text, 'A short text to compress.');
  const c = cramNoEngine(
    'compress',
    '--model',
    'gutenberg-llama-s',
    '--in',
    text,
    '--out',
    join(dir, 'missing', 'x.mem'),
  );
  assert.equal(c.status, 1);
  assert.match(c.stderr, /^error: --out .*x\.mem: folder .*missing does not exist; create it first/);
  const latin = join(dir, 'latin1.txt');
  writeFileSync(latin, Buffer.from('D\xe9j\xe0 vu, na\xefve caf\xe9.', 'latin1'));
  const r = cramNoEngine('run', '--model', 'gutenberg-llama-xs', '--text-file', latin);
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /--text-file .*latin1\.txt is not valid UTF-8 \(first bad byte 0xe9 at offset 1\).*--encoding latin1/,
  );
  const len = cramNoEngine(
    'run',
    '--model',
    'gutenberg-llama-xs',
    '--text-file',
    fixture('heldout-passage.txt'),
    '--mem',
    '2047',
  );
  assert.equal(len.status, 1);
  assert.match(len.stderr, /tokens \+ 2047 vectors need \d+ positions but gutenberg-llama-xs takes 2048/);
  // Vectors made with another tokenizer are refused before anything is computed with them.
  const vec = join(dir, 'v.safetensors');
  writeVectorFile(vec, new Float32Array(64), {
    model: 'gutenberg-llama-xs',
    model_sha256: 'a'.repeat(64),
    tokenizer_sha256: 'b'.repeat(64),
    n_mem: 1,
    embed_dim: 64,
    n_tokens: 8,
    text_sha256: 'c'.repeat(64),
    ids_sha256: 'd'.repeat(64),
  });
  const e = cramNoEngine(
    'eval',
    '--model',
    'gutenberg-llama-xs',
    '--vector',
    vec,
    '--text-file',
    fixture('heldout-passage.txt'),
  );
  assert.equal(e.status, 1);
  assert.match(
    e.stderr,
    /v\.safetensors was made with a tokenizer bbbbbbbbbbbb… .*but gutenberg-llama-xs's tokenizer is [0-9a-f]{12}…: the same text would give other token ids/,
  );
});

test('cram report rewrites a run without the engine and says which samples.jsonl lines it skipped', (t) => {
  const dir = tmpFolder(t, 'cram-report-');
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
});

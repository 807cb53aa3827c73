import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundled, fixture } from '../../helpers.ts';
import { loadModel } from '../../../src/models/load.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', DRIVER, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('compress / decompress / store commands end to end', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cram-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const loaded = await loadModel(bundled('gutenberg-llama-s'));
  const tok = loaded.tokenizer!;
  const text = tok.decode(tok.encode(readFileSync(fixture('heldout-passage.txt'), 'utf8')).slice(0, 31));
  const inFile = join(dir, 'in.txt');
  const memFile = join(dir, 'in.mem');
  writeFileSync(inFile, text);

  const c = cli([
    'compress',
    '--model',
    'gutenberg-llama-s',
    '--in',
    inFile,
    '--out',
    memFile,
    '--backend',
    'cpu',
    '--seed',
    '3',
  ]);
  assert.equal(c.code, 0, c.stderr);
  const summary = JSON.parse(c.stdout);
  assert.equal(summary.tokens, 30);
  assert.equal(summary.mem_bytes, readFileSync(memFile).length);
  assert.ok(summary.tokens_per_vector > 0 && summary.text_bytes_per_mem_byte > 0);

  const d = cli(['decompress', memFile, '--backend', 'cpu']);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout, text);
  const outFile = join(dir, 'out.txt');
  assert.equal(cli(['decompress', memFile, '--backend', 'cpu', '--out', outFile]).code, 0);
  assert.equal(readFileSync(outFile, 'utf8'), text);

  const wrong = cli(['decompress', memFile, '--model', 'gutenberg-llama-xs', '--backend', 'cpu']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^error: .*made for model "gutenberg-llama-s".*not for "gutenberg-llama-xs"/m);

  const env = { CRAM_STORE: join(dir, 'store.db') };
  const add = cli(['store', 'add', memFile, '--tag', 'demo', '--tag', 'short'], env);
  assert.equal(add.code, 0, add.stderr);
  const id = add.stdout.trim();
  assert.match(id, /^mem-\d+$/);
  const list = cli(['store', 'list', '--json'], env);
  const entries = list.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    entries.map((e: { id: string }) => e.id),
    [id],
  );
  assert.deepEqual(entries[0].tags, ['demo', 'short']);
  const got = join(dir, 'got.mem');
  assert.equal(cli(['store', 'get', id, '--out', got], env).code, 0);
  assert.deepEqual(readFileSync(got), readFileSync(memFile));
  assert.equal(cli(['store', 'rm', id], env).code, 0);
  const missing = cli(['store', 'get', id, '--out', got], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no entry mem-\d+/);
});

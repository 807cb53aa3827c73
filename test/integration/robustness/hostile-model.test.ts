/**
 * A hostile model config.json (issue 26, item 1) against whole commands, each in its own process with a small heap:
 * every command, `cram check` included, fails in seconds with one line naming the file and the field (before the fix:
 * a JavaScript heap out-of-memory abort, rc 134). A `.mem` file whose `model` is a relative path to such a folder
 * does not make decompress open it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serializeMemoryFile } from '../../../src/compress/memory-file.ts';
import { syntheticMemoryFile } from '../../compress/synthetic.ts';
import { bundled } from '../../helpers.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'cram-hostile-cli-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function cli(args: string[]) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--max-old-space-size=512', '--import', 'tsx', DRIVER, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CRAM_THREADS: '1' },
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stderr: r.stderr, seconds: (performance.now() - t0) / 1000 };
}

function hostileModel(name: string, field: string, value: unknown): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const src = bundled('gutenberg-llama-xs');
  for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join(src, f), join(dir, f));
  const c = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
  c[field] = value;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  return dir;
}

for (const [field, value] of [
  ['num_hidden_layers', 1e9],
  ['hidden_size', 1e9],
] as const) {
  test(
    `${field}: ${value} — check, run and compress fail in seconds naming the file and the field`,
    { timeout: 600_000 },
    () => {
      const dir = hostileModel(`${field}`, field, value);
      const config = join(work, `${field}.yaml`);
      writeFileSync(
        config,
        `name: hostile\nmodels: [${JSON.stringify(dir)}]\nsources: [random-words]\nlengths: [4]\nn_mem: [1]\nsamples: 1\n`,
      );
      const text = join(work, 'in.txt');
      writeFileSync(text, 'a short text to compress');
      for (const args of [
        ['check', config],
        ['run', '--model', dir, '--text', 'hello there', '--backend', 'cpu'],
        ['compress', '--model', dir, '--in', text, '--out', join(work, 'o.mem'), '--backend', 'cpu'],
      ]) {
        const r = cli(args);
        assert.equal(r.code, 1, `${args[0]}: rc ${r.code} signal ${r.signal}\n${r.stderr.slice(-400)}`);
        assert.match(r.stderr, new RegExp(`config\\.json: ${field} ${value} is above the sane bound`), args[0]);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.ok(r.seconds < 60, `${args[0]} took ${r.seconds} s`);
      }
    },
  );
}

test('decompress does not open a folder a .mem file names by a relative path', { timeout: 300_000 }, () => {
  const dir = hostileModel('by-path', 'num_hidden_layers', 1e9);
  const mem = join(work, 'by-path.mem');
  // Written by hand: the writer refuses such a file. Same length as "x" is not needed (the header length is recomputed).
  const good = serializeMemoryFile({ ...syntheticMemoryFile('by-path'), model: 'x' });
  const headerLen = Number(good.readBigUInt64LE(0));
  const header = good
    .subarray(8, 8 + headerLen)
    .toString('utf8')
    .replace('"model":"x"', `"model":${JSON.stringify(relative(ROOT, dir))}`);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
  writeFileSync(mem, Buffer.concat([len, Buffer.from(header), good.subarray(8 + headerLen)]));
  const r = cli(['decompress', mem, '--backend', 'cpu']);
  assert.equal(r.code, 1, `rc ${r.code} signal ${r.signal}\n${r.stderr.slice(-400)}`);
  assert.match(
    r.stderr,
    /by-path\.mem: names its model by the path ".*by-path", not by name: a file never chooses which folder is loaded/,
  );
});

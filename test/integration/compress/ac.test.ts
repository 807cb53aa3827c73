import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bundled, fixture, open } from '../../helpers.ts';
import { acDecode, acEncode, parseAc, serializeAc } from '../../../src/compress/ac.ts';
import { modelCodeLength } from '../../../src/compress/baselines.ts';

const loaded = await open(bundled('gutenberg-llama-s'));
const tok = loaded.tokenizer!;

test(
  "arithmetic coding with the model: 300 tokens decode exactly, in about the model's code length",
  { timeout: 300_000 },
  async (t) => {
    const text = tok.decode(tok.encode(readFileSync(fixture('heldout-passage.txt'), 'utf8')).slice(0, 301));
    const f = await acEncode(text, { model: loaded });
    const bytes = serializeAc(f);
    const back = await acDecode(parseAc(bytes, 'x.ac'), { model: loaded });
    assert.equal(back, text);
    const code = await modelCodeLength(loaded.compiled, tok.encode(text));
    // The payload is about the code length: quantising probabilities costs a little on likely tokens, and the floor of
    // one count per token (a ~0.4 % uniform mixture) saves a little on very unlikely ones; plus the coder's final bits.
    assert.ok(
      f.header.bits >= code.bits * 0.95 && f.header.bits <= code.bits * 1.02 + 40,
      `${f.header.bits} bits vs code length ${code.bits.toFixed(1)}`,
    );
    t.diagnostic(
      `${Buffer.byteLength(text)} text bytes → ${f.payload.length} payload bytes (${bytes.length} with header); model code length ${(code.bits / 8).toFixed(1)} bytes`,
    );
  },
);

test('arithmetic-coded files: damage is detected, another model is refused', async () => {
  const text = 'The old man walked slowly down to the harbour.';
  const f = await acEncode(text, { model: loaded });
  const bad = Buffer.from(f.payload);
  bad[1] ^= 0x10;
  await assert.rejects(
    acDecode({ header: f.header, payload: bad }, { model: loaded }),
    /did not give back the text \(SHA-256 mismatch\)/,
  );
  const xs = await open(bundled('gutenberg-llama-xs'));
  await assert.rejects(acDecode(f, { model: xs }), /coded with model "gutenberg-llama-s".*not "gutenberg-llama-xs"/);
  await xs.compiled.release();
  assert.throws(() => parseAc(Buffer.from('not a file'), 'y.ac'), /y\.ac: not an arithmetic-coded file/);
});

test('cram compress --method ac / decompress on the command line', { timeout: 300_000 }, async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const dir = mkdtempSync(join(tmpdir(), 'cram-ac-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const text = tok.decode(tok.encode(readFileSync(fixture('heldout-passage.txt'), 'utf8')).slice(0, 41));
  writeFileSync(join(dir, 'in.txt'), text);
  const cli = (args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url)), ...args],
      { cwd: fileURLToPath(new URL('../../..', import.meta.url)), encoding: 'utf8', timeout: 240_000 },
    );
  const c = cli([
    'compress',
    '--model',
    'gutenberg-llama-s',
    '--in',
    join(dir, 'in.txt'),
    '--out',
    join(dir, 'in.ac'),
    '--method',
    'ac',
    '--backend',
    'cpu',
  ]);
  assert.equal(c.status, 0, c.stderr);
  const s = JSON.parse(c.stdout);
  assert.equal(s.method, 'ac');
  assert.equal(s.tokens, 40);
  assert.ok(s.ac_payload_bytes < s.brotli_bytes, JSON.stringify(s));
  const d = cli(['decompress', join(dir, 'in.ac'), '--backend', 'cpu']);
  assert.equal(d.status, 0, d.stderr);
  assert.equal(d.stdout, text);
});

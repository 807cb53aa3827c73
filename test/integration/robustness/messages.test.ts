/**
 * Messages say what differs (issue 26, item 7), and `store list` over a garbled store exits non-zero (item 5).
 * Runs the engine (a short compress on gutenberg-llama-xs) and the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compress, decompress } from '../../../src/compress/compress.ts';
import { parseMemoryFile, serializeMemoryFile } from '../../../src/compress/memory-file.ts';
import { MemoryStore } from '../../../src/compress/store.ts';
import { syntheticMemoryFile } from '../../compress/synthetic.ts';
import { bundled, open } from '../../helpers.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'cram-messages-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test(
  'a changed text_chars is reported as such, not as a SHA-256 mismatch with two equal hashes',
  { timeout: 300_000 },
  async () => {
    const xs = await open(bundled('gutenberg-llama-xs'));
    try {
      const tok = xs.tokenizer!;
      const text = tok.decode(tok.encode('The old man walked along the road.').slice(0, 6));
      const mf = await compress(text, { model: xs, segmentTokens: 8, tokensPerVector: 2, seed: 1 });
      assert.equal(await decompress(mf, { model: xs }), text);
      const edited = parseMemoryFile(serializeMemoryFile({ ...mf, textChars: mf.textChars + 3 }));
      await assert.rejects(
        decompress(edited, { model: xs }),
        (e: Error) =>
          /matches the stored SHA-256 but has \d+ chars where the file's text_chars says \d+: the file's metadata was altered/.test(
            e.message,
          ) && !/does not match the stored SHA-256/.test(e.message),
      );
    } finally {
      await xs.compiled.release();
    }
  },
);

test('store list over garbled rows warns, names them, and exits 1', { timeout: 120_000 }, () => {
  const db = join(work, 'garbled.db');
  const store = new MemoryStore({ path: db });
  store.add(syntheticMemoryFile('a'));
  store.add(syntheticMemoryFile('b'));
  store.db.prepare("UPDATE memories SET k_total = 'x' WHERE n = 2").run();
  store.close();
  const r = spawnSync(process.execPath, ['--import', 'tsx', DRIVER, 'store', 'list', '--store', db], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^mem-1\t/);
  assert.doesNotMatch(r.stdout, /mem-2/);
  assert.match(r.stderr, /warning: mem-2: k_total is "x"/);
  assert.match(r.stderr, /error: 1 damaged part\(s\) of the store were left out of the list/);
});

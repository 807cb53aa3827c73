/**
 * Store commands verify what they read (issue 26, item 5): garbled rows are reported, not listed; a damaged entry is
 * refused by `get`; `add` refuses a .mem file that decompress would refuse (the same checks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkMemoryAgainstModel } from '../../src/compress/file-model.ts';
import { MemoryFileError, parseMemoryFile, serializeMemoryFile } from '../../src/compress/memory-file.ts';
import { MemoryStore } from '../../src/compress/store.ts';
import { syntheticMemoryFile } from '../compress/synthetic.ts';

const work = mkdtempSync(join(tmpdir(), 'cram-store-verify-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('garbled rows are reported with what is wrong and left out of the list', () => {
  const store = new MemoryStore({ path: join(work, 'garbled.db') });
  try {
    const ids = ['a', 'b', 'c', 'd'].map((l) => store.add(syntheticMemoryFile(l)));
    store.db.prepare("UPDATE memories SET tags = '{{x' WHERE n = 1").run();
    store.db.prepare("UPDATE memories SET n_tokens = 'lots' WHERE n = 2").run();
    store.db.prepare("UPDATE memories SET model_sha256 = 'zz' WHERE n = 3").run();
    const { entries, problems } = store.scan();
    assert.deepEqual(
      entries.map((e) => e.id),
      [ids[3]],
    );
    assert.deepEqual(problems, ['mem-1: tags is "{{x"', 'mem-2: n_tokens is "lots"', 'mem-3: model_sha256 is "zz"']);
    assert.deepEqual(
      store.list().map((e) => e.id),
      [ids[3]],
    );
  } finally {
    store.close();
  }
});

test('store get refuses an entry whose row and stored file disagree', () => {
  const store = new MemoryStore({ path: join(work, 'damaged.db') });
  try {
    const a = store.add(syntheticMemoryFile('a'));
    const b = store.add(syntheticMemoryFile('b'));
    store.db.prepare('UPDATE memories SET text_chars = text_chars + 1 WHERE n = 1').run();
    assert.throws(
      () => store.get(a),
      /damaged\.db#mem-1: the row says text_chars 49 but the stored \.mem says 48: the entry is damaged/,
    );
    // another valid file's bytes under b's row
    store.db.prepare('UPDATE memories SET data = ? WHERE n = 2').run(serializeMemoryFile(syntheticMemoryFile('y')));
    assert.throws(
      () => store.get(b),
      /mem-2: the row says text_sha256 .* but the stored \.mem says .*: the entry is damaged/,
    );
    store.db.prepare('UPDATE memories SET data = zeroblob(10) WHERE n = 2').run();
    assert.throws(() => store.get(b), /mem-2: the stored file has 10 bytes but the row says \d+: the entry is damaged/);
  } finally {
    store.close();
  }
});

test('store add refuses what decompress would refuse: a path as model, a width or token the model cannot take', () => {
  const byPath = serializeMemoryFile({ ...syntheticMemoryFile('p'), model: 'x' })
    .toString('latin1')
    .replace('"model":"x"', '"model":"/"');
  assert.throws(
    () => parseMemoryFile(Buffer.from(byPath, 'latin1'), 'p.mem'),
    (e: Error) => e instanceof MemoryFileError && /p\.mem: names its model by the path "\/"/.test(e.message),
  );
  const store = new MemoryStore({ path: join(work, 'add.db') });
  try {
    assert.throws(() => store.add(Buffer.from(byPath, 'latin1')), /names its model by the path/);
  } finally {
    store.close();
  }
  // 16-dim vectors named for gutenberg-llama-xs (64 dims): decompress refuses before loading; so does the add check.
  const wrongWidth = { ...syntheticMemoryFile('w'), model: 'gutenberg-llama-xs' };
  writeFileSync(join(work, 'w.mem'), serializeMemoryFile(wrongWidth));
  assert.throws(
    () => checkMemoryAgainstModel(wrongWidth, undefined, 'w.mem'),
    /w\.mem: holds 16-dim vectors but "gutenberg-llama-xs" embeds in 64 dims \(same name, another model\?\)/,
  );
  const badToken = syntheticMemoryFile('t', 1, 1, 64);
  badToken.model = 'gutenberg-llama-xs';
  badToken.segments[0].firstToken = 9000;
  assert.throws(
    () => checkMemoryAgainstModel(badToken, undefined, 't.mem'),
    /t\.mem: segment 0: first token 9000 is outside the vocabulary of "gutenberg-llama-xs" \(8192\)/,
  );
  const unknown: string[] = [];
  assert.equal(
    checkMemoryAgainstModel(syntheticMemoryFile('u'), undefined, 'u.mem', (w) => unknown.push(w)),
    null,
  );
  assert.match(unknown[0], /u\.mem names its model "synthetic", which is not a bundled model/);
});

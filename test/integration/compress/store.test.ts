import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { MemoryStore, defaultStorePath } from '../../../src/compress/store.ts';
import { parseMemoryFile, serializeMemoryFile } from '../../../src/compress/memory-file.ts';
import { syntheticMemoryFile } from '../../compress/synthetic.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const WRITER = fileURLToPath(new URL('./store-writer.ts', import.meta.url));

function tempDir(t: { after: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cram-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('store: add, list, get, write out, rm; ids are never reused', (t) => {
  const dir = tempDir(t);
  const store = new MemoryStore({ path: join(dir, 'sub', 'store.db') });
  t.after(() => store.close());
  const a = syntheticMemoryFile('a');
  const idA = store.add(a, ['x', 'y']);
  const idB = store.add(serializeMemoryFile(syntheticMemoryFile('b')));
  assert.match(idA, /^mem-\d+$/);
  assert.notEqual(idA, idB);
  const list = store.list();
  assert.deepEqual(
    list.map((e) => e.id),
    [idA, idB],
  );
  assert.equal(list[0].kTotal, 6);
  assert.equal(list[0].nTokens, 12);
  assert.deepEqual(list[0].tags, ['x', 'y']);
  assert.deepEqual(
    store.list({ tag: 'x' }).map((e) => e.id),
    [idA],
  );
  assert.deepEqual(Buffer.compare(store.getBytes(idA), serializeMemoryFile(a)), 0);
  assert.deepEqual(store.get(idA).segments[1].vectors, a.segments[1].vectors);
  const out = join(dir, 'a.mem');
  store.writeTo(idA, out);
  assert.equal(parseMemoryFile(readFileSync(out)).textSha256, a.textSha256);
  store.rm(idA);
  assert.throws(() => store.get(idA), /no entry mem-\d+/);
  assert.throws(() => store.rm(idA), /no entry/);
  assert.throws(() => store.get('foo'), /not a store id/);
  const idC = store.add(syntheticMemoryFile('c'));
  assert.ok(Number(idC.slice(4)) > Number(idB.slice(4)), 'a removed id is not handed out again');
  assert.throws(() => store.add(new Uint8Array([1, 2, 3])), /too short|not a readable/);
});

test('store: default path honours CRAM_STORE', () => {
  const prev = process.env.CRAM_STORE;
  try {
    process.env.CRAM_STORE = '/tmp/somewhere/x.db';
    assert.equal(defaultStorePath(), '/tmp/somewhere/x.db');
    delete process.env.CRAM_STORE;
    assert.match(defaultStorePath(), /\.cache\/cramming\/store\.db$/);
  } finally {
    if (prev === undefined) delete process.env.CRAM_STORE;
    else process.env.CRAM_STORE = prev;
  }
});

function store0(db: string) {
  const s = new MemoryStore({ path: db });
  try {
    return s.list();
  } finally {
    s.close();
  }
}

function runWriter(db: string, label: string, count: number, startAt: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, db, label, String(count), String(startAt)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => {
      out += b;
    });
    child.stderr.on('data', (b) => {
      err += b;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`writer ${label} exited ${code}: ${err}`)),
    );
  });
}

test('store: two processes adding at once both succeed; the database stays intact', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'store.db'); // fresh: both processes also race to create it
  const count = 60;
  const startAt = Date.now() + 2500; // both start adding at the same moment, after their start-up
  const [a, b] = await Promise.all([runWriter(db, 'p1', count, startAt), runWriter(db, 'p2', count, startAt)]);
  // Interleaved ids show the writes really overlapped.
  const order = store0(db).map((e) => e.tags[0]);
  const switches = order.filter((tag, i) => i > 0 && tag !== order[i - 1]).length;
  assert.ok(switches > 1, `the two writers did not overlap (${order.join(' ')})`);
  assert.equal(a.length, count);
  assert.equal(b.length, count);
  const all = [...a, ...b];
  assert.equal(new Set(all).size, all.length, 'ids are distinct');
  const store = new MemoryStore({ path: db });
  t.after(() => store.close());
  const list = store.list();
  assert.equal(list.length, 2 * count);
  assert.deepEqual(new Set(list.map((e) => e.id)), new Set(all));
  for (const id of all) {
    const mf = store.get(id);
    const tag = store.entry(id).tags[0];
    assert.equal(mf.settings.label, `${tag}-${store.entry(id).tags[1].slice(1)}`);
  }
  assert.equal(store.integrityCheck(), 'ok');
  const raw = new Database(db, { readonly: true });
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
  raw.close();
});

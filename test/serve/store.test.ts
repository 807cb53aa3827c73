/**
 * The memory service's store, without a model or a server (fast): created 0600, an integrity check at start, a
 * leftover read-only -shm, the serve lock (PID, host, start time; named in the refusal), model identity (refusal at
 * start, claims by model, legacy rows), checkpoints, list totals, a removed store entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ServeDb, StoreUnusableError, parseMemoryId, type ModelIdentity } from '../../src/serve/db.ts';
import { openStore } from '../../src/serve/open-store.ts';
import { parseCheckpoint, serializeCheckpoint } from '../../src/serve/queue.ts';

const A: ModelIdentity = { name: 'model-a', weights_sha256: 'a'.repeat(64), tokenizer_sha256: 't'.repeat(64) };
const B: ModelIdentity = { name: 'model-b', weights_sha256: 'b'.repeat(64), tokenizer_sha256: 't'.repeat(64) };
const job = (model: ModelIdentity, text = 'some text') => ({
  model,
  text,
  textSha256: 'x'.repeat(64),
  tokens: 3,
  tags: [],
});

function tmp(t: { after: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cram-serve-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a new store file is created 0600 (it holds the texts), and so are its -wal and -shm', (t) => {
  const path = join(tmp(t), 'sub', 'new.db');
  const db = new ServeDb(path, { primary: true });
  db.enqueue(job(A), 10);
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(f)) assert.equal(statSync(f).mode & 0o777, 0o600, f);
  }
  db.close();
});

test('a store with a scribbled page is refused at start, naming the integrity check', (t) => {
  const path = join(tmp(t), 'bad.db');
  const raw = new Database(path);
  raw.exec('CREATE TABLE filler (x TEXT)');
  const ins = raw.prepare('INSERT INTO filler VALUES (?)');
  for (let i = 0; i < 400; i++) ins.run(`row ${i} `.repeat(20));
  raw.close();
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * 3);
  closeSync(fd);
  assert.throws(
    () => new ServeDb(path, { primary: true }),
    (e: Error) =>
      e instanceof StoreUnusableError &&
      /failed its integrity check \(PRAGMA quick_check/.test(e.message) &&
      /restore it from a backup/.test(e.message),
  );
});

test('a leftover -shm the server cannot write is cleared, and the store opens', (t) => {
  const path = join(tmp(t), 'shm.db');
  const first = new ServeDb(path, { primary: true });
  first.enqueue(job(A), 10);
  first.close();
  const fd = openSync(`${path}-shm`, 'w', 0o444);
  writeSync(fd, Buffer.alloc(32768));
  closeSync(fd);
  chmodSync(`${path}-shm`, 0o444);
  const db = new ServeDb(path, { primary: true });
  assert.notEqual(statSync(`${path}-shm`).mode & 0o200, 0, 'the -shm in use is writable');
  assert.equal(db.counts().queued, 1);
  db.enqueue(job(A), 10);
  assert.equal(db.counts().queued, 2);
  db.close();
});

test('the serve lock holds PID, host and start time; a second server is refused naming the lock file; a stale one is taken over', (t) => {
  const path = join(tmp(t), 'lock.db');
  const a = openStore({ store: path, model: { name: 'model-a' } }, A);
  const held = JSON.parse(readFileSync(`${path}.serve.lock`, 'utf8'));
  assert.equal(held.pid, process.pid);
  assert.equal(held.host, hostname());
  assert.ok(Number.isFinite(Date.parse(held.started)));
  // The same process counts as alive: a second server on this store is refused.
  assert.throws(
    () => openStore({ store: path, model: { name: 'model-a' } }, A),
    (e: Error) => e.message.includes(`${path}.serve.lock`) && /in use by process \d+ on /.test(e.message),
  );
  clearInterval(a.heartbeat);
  a.db.close();
  a.lock.release();
  assert.equal(existsSync(`${path}.serve.lock`), false);
  // A lock left by a process that is gone (a PID that cannot exist) is stale.
  const fd = openSync(`${path}.serve.lock`, 'w');
  writeSync(
    fd,
    JSON.stringify({
      pid: 2 ** 22 + 7,
      host: hostname(),
      started: new Date().toISOString(),
      alive: new Date().toISOString(),
      command: 'x',
    }),
  );
  closeSync(fd);
  const b = openStore({ store: path, model: { name: 'model-a' } }, A);
  clearInterval(b.heartbeat);
  b.db.close();
  b.lock.release();
});

test("a store holding another model's jobs is refused at start naming both models, unless allowOtherModels", (t) => {
  const path = join(tmp(t), 'models.db');
  const a = openStore({ store: path, model: { name: 'model-a' } }, A);
  a.db.enqueue(job(A), 10);
  clearInterval(a.heartbeat);
  a.db.close();
  a.lock.release();
  assert.throws(
    () => openStore({ store: path, model: { name: 'model-b' } }, B),
    (e: Error) =>
      e instanceof StoreUnusableError &&
      /made by model-a \(weights aaaaaaaaaaaa…/.test(e.message) &&
      /not by model-b \(weights bbbbbbbbbbbb…/.test(e.message) &&
      /--allow-other-models/.test(e.message),
  );
  const b = openStore({ store: path, model: { name: 'model-b' }, allowOtherModels: true }, B);
  assert.deepEqual(
    b.others.map((m) => m.name),
    ['model-a'],
  );
  // Queued jobs keep their model: model-b's worker does not claim model-a's job.
  b.db.enqueue(job(B), 10);
  const claimed = b.db.claim(B, 10, 10_000);
  assert.equal(claimed.length, 1);
  assert.equal(claimed[0].model_name, 'model-b');
  assert.equal(b.db.claim(B, 10, 10_000).length, 0);
  assert.equal(b.db.claim(A, 10, 10_000)[0].model_name, 'model-a');
  clearInterval(b.heartbeat);
  b.db.close();
  b.lock.release();
});

test('rows from before models were recorded get the model of the server that opens the store', (t) => {
  const path = join(tmp(t), 'legacy.db');
  const db = new ServeDb(path);
  db.enqueue(job(A), 10);
  db.db.prepare('UPDATE serve_memories SET model_name = NULL, model_sha256 = NULL, tokenizer_sha256 = NULL').run();
  assert.deepEqual(db.models(), []);
  assert.equal(db.adoptLegacyRows(B), 1);
  assert.deepEqual(db.models(), [B]);
  db.close();
});

test('memory ids: lower case, no leading zeros, at most 15 digits', () => {
  assert.equal(parseMemoryId('mem-id-42'), 42);
  assert.equal(parseMemoryId('mem-id-999999999999999'), 999999999999999);
  for (const bad of [
    'mem-id-9999999999999999',
    'MEM-ID-1',
    'Mem-id-1',
    'mem-id-01',
    'mem-id-0',
    'mem-id-',
    'mem-id-1 ',
    '42',
  ]) {
    assert.equal(parseMemoryId(bad), null, bad);
  }
});

test("a checkpoint survives its bytes: K per segment, the finished segments' vectors, rounds and steps", () => {
  const d = 4;
  const v = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const c = { planSha256: 'p'.repeat(64), rounds: 2, steps: 300, kOf: [2, 3], done: [v, null] };
  const back = parseCheckpoint(serializeCheckpoint(c), d)!;
  assert.deepEqual({ ...back, done: back.done.map((x) => x && [...x]) }, { ...c, done: [[...v], null] });
  assert.equal(parseCheckpoint(serializeCheckpoint(c).subarray(0, 40), d), null);
  assert.equal(parseCheckpoint(Buffer.from('garbage'), d), null);
});

test("a running job's checkpoint is kept when a crash requeues it, and dropped when it finishes", (t) => {
  const db = new ServeDb(join(tmp(t), 'cp.db'));
  const n = db.enqueue(job(A), 10)!;
  db.claim(A, 10, 1000);
  db.saveCheckpoint(n, Buffer.from('cp'));
  assert.deepEqual(db.requeueInterrupted(), [n]);
  const [row] = db.claim(A, 10, 1000);
  assert.equal(row.checkpoint?.toString(), 'cp');
  db.fail(n, 'x');
  assert.equal(db.get(n)!.checkpoint, null);
  db.close();
});

test('list gives a page and the total matching', (t) => {
  const db = new ServeDb(join(tmp(t), 'list.db'));
  for (let i = 0; i < 5; i++) db.enqueue(job(A, `t${i}`), 10);
  const page = db.list({ limit: 2, offset: 1 });
  assert.equal(page.total, 5);
  assert.deepEqual(
    page.rows.map((r) => r.n),
    [2, 3],
  );
  assert.equal(db.list({ status: 'done', limit: 10, offset: 0 }).total, 0);
  db.close();
});

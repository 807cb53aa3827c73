/**
 * A session keeps one memory (src/serve/db.ts), without a model or a server (fast): a second crossing of the
 * threshold queues a merge (the memory's text, then the oldest messages), whose completion replaces the memory and
 * those messages in one transaction; a failed merge keeps every message; the cap; exactly-once completion after a
 * crash; a segmented result is refused for a session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServeDb, type ModelIdentity, type NewJob, type PartRow, type SessionSettings } from '../../src/serve/db.ts';
import type { MemoryFile } from '../../src/compress/memory-file.ts';

const A: ModelIdentity = { name: 'model-a', weights_sha256: 'a'.repeat(64), tokenizer_sha256: 't'.repeat(64) };
/** One token per word here: a message of n words is n tokens. */
const words = (s: string) => s.split(/\s+/).filter((w) => w !== '').length;
const chunk = (parts: PartRow[]): NewJob => {
  const text = parts.map((p) => p.text!).join('');
  return { model: A, text, textSha256: 'x'.repeat(64), tokens: words(text), tags: [] };
};
const S: SessionSettings = { thresholdTokens: 10, keepTokens: 4, maxChunkTokens: 40 };

function fakeFile(text: string, segments = 1): MemoryFile {
  return {
    model: A.name,
    modelSha256: A.weights_sha256,
    tokenizerSha256: A.tokenizer_sha256,
    nTokens: words(text),
    textChars: text.length,
    textSha256: 'x'.repeat(64),
    created: new Date().toISOString(),
    segments: Array.from({ length: segments }, () => ({ nMem: 2, vectors: new Float32Array(8) })),
  } as unknown as MemoryFile;
}

function open(t: { after: (f: () => void) => void }): ServeDb {
  const dir = mkdtempSync(join(tmpdir(), 'cram-serve-sessions-'));
  const db = new ServeDb(join(dir, 's.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

/** Appends messages of `n` words each until one queues a job (or `max` were sent). */
function say(db: ServeDb, sid: string, sent: string[], n: number, max = 10, s = S) {
  for (let i = 0; i < max; i++) {
    const text = `${Array.from({ length: n }, (_, w) => `m${sent.length}w${w}`).join(' ')}\n`;
    sent.push(text);
    const r = db.appendMessage(sid, text, words(text), s, chunk, 100);
    if (r.job !== null || r.skipped !== null) return r;
  }
  return null;
}

/** The worker's part: claim the job and complete it with a file made from its text. */
function finish(db: ServeDb, n: number, segments = 1): boolean {
  const [row] = db.claim(A, 1, 10_000);
  assert.equal(row.n, n);
  return db.complete(n, fakeFile(row.text!, segments), Buffer.from('mem'), { vectors: 2, segments });
}

/** A session whose first crossing of the threshold is crammed: the database, the messages sent, the memory's job. */
function withMemory(t: { after: (f: () => void) => void }, sid: string) {
  const db = open(t);
  const sent: string[] = [];
  const m1 = say(db, sid, sent, 3)!.job!;
  assert.ok(finish(db, m1));
  return { db, sent, m1 };
}

/** Nothing lost: the memory's text (the first part's unless given) and the text after it are every message in order. */
function assertNothingLost(parts: PartRow[], sent: string[], memoryText = parts[0].text): void {
  const after = parts
    .slice(1)
    .map((p) => p.text)
    .join('');
  assert.equal(`${memoryText}${after}`, sent.join(''));
}

const storeEntries = (db: ServeDb) =>
  (db.db.prepare('SELECT n, tags FROM memories ORDER BY n').all() as { n: number; tags: string }[]).map((r) => ({
    n: r.n,
    tags: JSON.parse(r.tags) as string[],
  }));

test('a second crossing merges the memory text + the oldest messages; done, it replaces both at once', (t) => {
  const db = open(t);
  const sent: string[] = [];
  const first = say(db, 'c', sent, 3)!;
  assert.ok(first.job, 'the threshold was passed');
  const m1 = first.job!;
  const t1 = db.get(m1)!.text!;
  assert.ok(sent.join('').startsWith(t1) && t1.length > 0);
  assert.equal(db.get(m1)!.replaces_n, null);
  assert.ok(finish(db, m1));
  let parts = db.sessionParts('c');
  assert.equal(parts[0].kind, 'memory');
  assert.equal(parts[0].text, t1, "the memory's part keeps the text it holds");

  // While a merge is pending, further crossings queue nothing (one job per session at a time).
  const second = say(db, 'c', sent, 3)!;
  const m2 = second.job!;
  assert.ok(m2);
  const job = db.get(m2)!;
  assert.equal(job.replaces_n, m1);
  assert.ok(job.text!.startsWith(t1), 'the merge starts with the memory text');
  const msgs = job.text!.slice(t1.length);
  assert.ok(msgs.length > 0 && sent.join('').slice(t1.length).startsWith(msgs), 'then the oldest messages');
  const again = say(db, 'c', sent, 3)!;
  assert.deepEqual([again.job, again.skipped], [null, 'pending']);

  // Until it is done: the old memory first, then every message as text (compressing ones marked).
  parts = db.sessionParts('c');
  assert.deepEqual(
    parts.map((p) => p.kind),
    ['memory', ...parts.slice(1).map(() => 'text')],
  );
  assert.equal(parts[0].memory_n, m1);
  assertNothingLost(parts, sent, t1);

  assert.ok(finish(db, m2));
  parts = db.sessionParts('c');
  assert.equal(parts.filter((p) => p.kind === 'memory').length, 1, 'one memory');
  assert.equal(parts[0].kind, 'memory');
  assert.equal(parts[0].memory_n, m2);
  assert.equal(parts[0].text, job.text);
  // Nothing lost: the memory's text and the text after it are every message, in order.
  assertNothingLost(parts, sent);
  assert.equal(
    parts.reduce((a, p) => a + p.tokens, 0),
    sent.reduce((a, m) => a + words(m), 0),
  );
  // The old memory is gone (row and store entry), recorded as superseded; the list and the session agree.
  assert.equal(db.get(m1), undefined);
  assert.deepEqual(db.supersededBy(m1), { by: m2, sid: 'c' });
  assert.deepEqual(
    storeEntries(db).map((e) => e.tags),
    [[`mem-id-${m2}`, 'session:c']],
  );
  assert.deepEqual(
    db
      .list({ limit: 100, offset: 0 })
      .rows.filter((r) => r.status === 'done')
      .map((r) => r.n),
    [m2],
  );

  // A third merge supersedes the second; the first now points at the third.
  const m3 = say(db, 'c', sent, 3)!.job!;
  assert.equal(db.get(m3)!.replaces_n, m2);
  assert.ok(finish(db, m3));
  assert.deepEqual(db.supersededBy(m1), { by: m3, sid: 'c' });
  assert.deepEqual(db.supersededBy(m2), { by: m3, sid: 'c' });
  parts = db.sessionParts('c');
  assertNothingLost(parts, sent);
  assert.deepEqual(
    storeEntries(db).map((e) => e.tags[0]),
    [`mem-id-${m3}`],
  );
  // Deleting the session removes its memory, its store entry and the superseded records.
  assert.ok(db.deleteSession('c'));
  assert.equal(db.supersededBy(m1), undefined);
  assert.deepEqual(storeEntries(db), []);
});

test('a failed merge keeps the memory and every message as text; the next crossing retries them', (t) => {
  const { db, sent, m1 } = withMemory(t, 'f');
  const m2 = say(db, 'f', sent, 3)!.job!;
  db.claim(A, 1, 10_000);
  assert.ok(db.fail(m2, 'not exact'));
  let parts = db.sessionParts('f');
  assert.equal(parts[0].memory_n, m1);
  assertNothingLost(parts, sent);
  const failed = parts.filter((p) => p.failed_n === m2);
  assert.ok(failed.length > 0);
  assert.equal(db.get(m1)!.status, 'done', 'the old memory is kept');
  assert.equal(db.get(m2)!.status, 'failed');
  // Failed text does not count toward the threshold: the next message alone does not queue a job.
  const next = db.appendMessage('f', 'one two\n', 2, S, chunk, 100);
  sent.push('one two\n');
  assert.deepEqual([next.job, next.skipped], [null, null]);
  // Newer messages past the threshold: a merge of the memory, the failed messages (the oldest) and newer ones.
  const m3 = say(db, 'f', sent, 3)!.job!;
  const job = db.get(m3)!;
  assert.equal(job.replaces_n, m1);
  assert.ok(job.text!.startsWith(parts[0].text! + failed.map((p) => p.text).join('')));
  finish(db, m3);
  parts = db.sessionParts('f');
  assert.equal(parts.filter((p) => p.kind === 'memory').length, 1);
  assertNothingLost(parts, sent);
  assert.equal(db.get(m1), undefined);
  assert.equal(db.get(m2)!.status, 'failed', "the failed job's row stays, as a failed memory");
});

test("the cap: a merge takes messages while they fit with the memory's text; then the memory is full", (t) => {
  const db = open(t);
  const sent: string[] = [];
  const cap = { ...S, maxChunkTokens: 16 };
  const m1 = say(db, 'cap', sent, 6, 10, cap)!.job!;
  finish(db, m1);
  const mem = db.sessionParts('cap')[0];
  assert.ok(mem.tokens <= 16);
  // 6 + 6 fit in 16: one merge; then 12 + 6 do not.
  let r = say(db, 'cap', sent, 6, 10, cap)!;
  assert.ok(r.job !== null && db.get(r.job)!.replaces_n === m1, JSON.stringify(r));
  assert.ok(db.get(r.job)!.tokens <= 16, 'the merged text is within the cap');
  finish(db, r.job);
  r = say(db, 'cap', sent, 6, 10, cap)!;
  assert.deepEqual([r.job, r.skipped], [null, 'memory_full']);
  assert.equal(db.memoryFull('cap', cap), true);
  const parts = db.sessionParts('cap');
  assert.equal(parts.filter((p) => p.kind === 'memory').length, 1);
  assertNothingLost(parts, sent);
  assert.equal(db.memoryFull('cap', { ...cap, maxChunkTokens: 1000 }), false);
});

test('a merge completes in one transaction: a failure inside changes nothing; the retry completes once', (t) => {
  const { db, sent, m1 } = withMemory(t, 'tx');
  const m2 = say(db, 'tx', sent, 3)!.job!;
  const before = { parts: db.sessionParts('tx'), entries: storeEntries(db), m1: db.get(m1) };
  // The last statement of the completion fails: everything before it must roll back.
  db.db.exec("CREATE TRIGGER boom BEFORE UPDATE ON serve_sessions BEGIN SELECT RAISE(ABORT, 'boom'); END");
  const [row] = db.claim(A, 1, 10_000);
  assert.throws(() => db.complete(m2, fakeFile(row.text!), Buffer.from('mem'), { vectors: 2, segments: 1 }), /boom/);
  assert.deepEqual(db.sessionParts('tx'), before.parts);
  assert.deepEqual(storeEntries(db), before.entries);
  assert.deepEqual(db.get(m1), before.m1);
  assert.equal(db.get(m2)!.status, 'running');
  assert.equal(db.supersededBy(m1), undefined);
  db.db.exec('DROP TRIGGER boom');
  // A crash now (kill -9): the job is queued again, claimed again (runs 2), and completes exactly once.
  assert.deepEqual(db.requeueInterrupted(), [m2]);
  const [again] = db.claim(A, 1, 10_000);
  assert.equal(again.runs, 2);
  assert.equal(db.complete(m2, fakeFile(again.text!), Buffer.from('mem'), { vectors: 2, segments: 1 }), true);
  assert.equal(db.complete(m2, fakeFile(again.text!), Buffer.from('mem'), { vectors: 2, segments: 1 }), false);
  assert.equal(db.get(m2)!.completions, 1);
  assert.equal(storeEntries(db).length, 1);
  assert.equal(db.sessionParts('tx').filter((p) => p.kind === 'memory').length, 1);
});

test('a session job that could only be crammed in several segments fails: its messages stay text', (t) => {
  const db = open(t);
  const sent: string[] = [];
  const m1 = say(db, 'seg', sent, 3)!.job!;
  assert.equal(finish(db, m1, 3), true);
  assert.equal(db.get(m1)!.status, 'failed');
  assert.match(db.get(m1)!.error!, /3 separate segments .*cannot open a prompt/);
  assert.deepEqual(storeEntries(db), []);
  const parts = db.sessionParts('seg');
  assert.ok(parts.every((p) => p.kind === 'text'));
  assert.equal(parts.map((p) => p.text).join(''), sent.join(''));
});

test('a session from before merging (a memory without its text) is not merged, and says so', (t) => {
  const { db, sent } = withMemory(t, 'old');
  db.db.prepare("UPDATE serve_session_parts SET text = NULL WHERE kind = 'memory'").run();
  const r = say(db, 'old', sent, 3)!;
  assert.deepEqual([r.job, r.skipped], [null, 'legacy_layout']);
  assert.equal(db.memoryFull('old', S), true);
});

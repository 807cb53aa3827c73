/**
 * The memory service's state, in the same SQLite database as the `.mem` store (src/compress/store.ts):
 *
 * - `serve_memories`: one row per memory the service was asked for (POST /v1/memories, or a session's compression).
 *   The row is the job: queued → running → done | failed. Its id is `mem-id-<n>` (the `[mem-id-<n>]` placeholder).
 *   A finished memory's `.mem` bytes go into the store's own `memories` table (so `cram store list|get` see them,
 *   tagged `mem-id-<n>`) in the same transaction that marks the job done: a job is done at most once, and an
 *   acknowledged job is never lost (it is committed before the 202 is sent).
 * - `serve_sessions`, `serve_session_parts`: a session's context as ordered parts, each a message's text or the
 *   session's one memory, which replaced its oldest messages and opens the context (its part keeps the text it holds,
 *   so that the next compression can re-cram it together with newer messages: a merge, `replaces_n` on the job).
 *   `serve_superseded`: the memories a merge replaced (deleted with their store entries), and the one now holding
 *   their text, so that their ids answer 410 naming it rather than a bare 404.
 *
 * Crash safety: every state change is one transaction (WAL, synchronous=NORMAL: a committed transaction survives a
 * kill -9 of the process; a power loss may lose the last ones). A job found `running` at start-up was interrupted:
 * it is queued again and resumes from its checkpoint (the segments it had finished, the K each other segment had
 * reached; its `runs` counter shows it).
 *
 * Model identity: every job row holds the model it was accepted for (name, weights SHA-256, tokenizer SHA-256); a
 * worker claims only its own model's jobs, and a memory is only ever decoded with the model that made it.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { insertMemoryRow, MemoryStore } from '../compress/store.ts';
import type { MemoryFile } from '../compress/memory-file.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS serve_memories (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
  text TEXT,
  text_sha256 TEXT NOT NULL,
  text_chars INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  tags TEXT NOT NULL,
  session_id TEXT,
  store_n INTEGER,
  runs INTEGER NOT NULL DEFAULT 0,
  completions INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  stats TEXT,
  created TEXT NOT NULL,
  started TEXT,
  finished TEXT,
  model_name TEXT,
  model_sha256 TEXT,
  tokenizer_sha256 TEXT,
  checkpoint BLOB,
  replaces_n INTEGER
);
CREATE TABLE IF NOT EXISTS serve_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS serve_memories_status ON serve_memories (status, n);
CREATE INDEX IF NOT EXISTS serve_memories_session ON serve_memories (session_id);
CREATE TABLE IF NOT EXISTS serve_sessions (
  sid TEXT PRIMARY KEY,
  created TEXT NOT NULL,
  updated TEXT NOT NULL,
  next_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS serve_session_parts (
  sid TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('text', 'memory')),
  text TEXT,
  tokens INTEGER NOT NULL,
  memory_n INTEGER,
  failed_n INTEGER,
  PRIMARY KEY (sid, seq)
);
CREATE TABLE IF NOT EXISTS serve_superseded (
  n INTEGER PRIMARY KEY,
  by_n INTEGER NOT NULL,
  sid TEXT NOT NULL,
  at TEXT NOT NULL
);
`;

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface MemoryRow {
  n: number;
  status: JobStatus;
  text: string | null;
  text_sha256: string;
  text_chars: number;
  tokens: number;
  tags: string;
  session_id: string | null;
  store_n: number | null;
  runs: number;
  completions: number;
  error: string | null;
  stats: string | null;
  created: string;
  started: string | null;
  finished: string | null;
  model_name: string | null;
  model_sha256: string | null;
  tokenizer_sha256: string | null;
  checkpoint?: Buffer | null;
  /** A session's merge: the session memory whose text this job's text starts with, replaced when it is done. */
  replaces_n?: number | null;
}

/** Which model a memory or job belongs to: its name, the SHA-256 of its weights and of its tokenizer. */
export interface ModelIdentity {
  name: string;
  weights_sha256: string;
  tokenizer_sha256: string;
}

export const sameModel = (a: ModelIdentity, b: ModelIdentity) =>
  a.weights_sha256 === b.weights_sha256 && a.tokenizer_sha256 === b.tokenizer_sha256;

/** "gutenberg-llama-s (weights 1a2b3c4d5e6f…, tokenizer 0a1b2c3d4e5f…)" */
export const describeModel = (m: ModelIdentity) =>
  `${m.name} (weights ${m.weights_sha256.slice(0, 12)}…, tokenizer ${m.tokenizer_sha256.slice(0, 12)}…)`;

/** A row's model, or null for a row from before models were recorded (adoptLegacyRows fills those in). */
export function rowModel(r: Pick<MemoryRow, 'model_name' | 'model_sha256' | 'tokenizer_sha256'>): ModelIdentity | null {
  if (!r.model_sha256 || !r.tokenizer_sha256) return null;
  return { name: r.model_name ?? '?', weights_sha256: r.model_sha256, tokenizer_sha256: r.tokenizer_sha256 };
}

/** The store failed its integrity check, or cannot be opened for writing: the server refuses to start. */
export class StoreUnusableError extends Error {}

/** Whether an SQLite error means the store cannot be written now (read-only, full, I/O), as opposed to a bug. */
export function isStoreWriteError(e: unknown): boolean {
  const code = String((e as { code?: unknown }).code ?? '');
  return /^SQLITE_(READONLY|CANTOPEN|IOERR|FULL|PERM|BUSY|LOCKED|CORRUPT|NOTADB)/.test(code);
}

export interface PartRow {
  sid: string;
  seq: number;
  kind: 'text' | 'memory';
  text: string | null;
  tokens: number;
  memory_n: number | null;
  failed_n: number | null;
}

export const memoryId = (n: number) => `mem-id-${n}`;

/** Most digits of a memory number (ids stay exact JavaScript integers). */
export const MAX_ID_DIGITS = 15;
/** The schema pattern of a memory id: lower case, no leading zeros, at most MAX_ID_DIGITS digits. */
export const MEMORY_ID_PATTERN = `^mem-id-[1-9][0-9]{0,${MAX_ID_DIGITS - 1}}$`;
const MEMORY_ID = new RegExp(MEMORY_ID_PATTERN);

/** `mem-id-<n>` → n, or null when the string is not such an id (upper case, leading zeros, too many digits). */
export function parseMemoryId(id: string): number | null {
  return MEMORY_ID.test(id) ? Number(id.slice('mem-id-'.length)) : null;
}

const now = () => new Date().toISOString();

export interface NewJob {
  model: ModelIdentity;
  text: string;
  textSha256: string;
  tokens: number;
  tags: string[];
}

export interface SessionSettings {
  /** Compress when the session's uncompressed text passes this many tokens. */
  thresholdTokens: number;
  /** Keep the newest messages holding at least this many tokens as text (0: compress everything). */
  keepTokens: number;
  /** Most tokens one compression takes, the session memory's text included when it is merged (its cap). */
  maxChunkTokens: number;
}

/** Why a session past its threshold queued no compression. */
export type NoCompression = 'pending' | 'queue_full' | 'memory_full' | 'legacy_layout';

export class ServeDb {
  readonly store: MemoryStore;
  readonly db: Database.Database;

  /**
   * `primary`: the server's own connection (not the compression thread's): a new store file is created 0600 (owner
   * only: it holds the texts), a leftover `-shm` this process cannot write is removed (no other process has the store
   * open: the caller holds the serve lock), and the database must pass `PRAGMA quick_check`.
   */
  constructor(path?: string, opts: { primary?: boolean } = {}) {
    if (opts.primary && path) prepareStoreFile(path);
    this.store = new MemoryStore({ path });
    this.db = this.store.db;
    if (opts.primary) {
      let check: string;
      try {
        const rows = this.db.pragma('quick_check', { simple: false }) as Record<string, string>[];
        check = rows.map((r) => Object.values(r)[0]).join('; ');
      } catch (e) {
        check = (e as Error).message;
      }
      if (check !== 'ok') {
        this.store.close();
        throw new StoreUnusableError(
          `the store ${this.store.path} failed its integrity check ` +
            `(PRAGMA quick_check: ${check.slice(0, 300)}); ` +
            'restore it from a backup, or recover what is readable with `sqlite3 <store> .recover`, then start again',
        );
      }
    }
    this.db
      .transaction(() => {
        this.db.exec(SCHEMA);
        const info = this.db.prepare('PRAGMA table_info(serve_memories)').all() as { name: string }[];
        const cols = new Set(info.map((c) => c.name));
        const added = [
          ['model_name', 'TEXT'],
          ['model_sha256', 'TEXT'],
          ['tokenizer_sha256', 'TEXT'],
          ['checkpoint', 'BLOB'],
          ['replaces_n', 'INTEGER'],
        ];
        for (const [c, type] of added) {
          if (!cols.has(c)) this.db.exec(`ALTER TABLE serve_memories ADD COLUMN ${c} ${type}`);
        }
      })
      .immediate();
  }

  get path(): string {
    return this.store.path;
  }

  close(): void {
    this.store.close();
  }

  /** The models of the service's memories and jobs (rows from before models were recorded not included). */
  models(): ModelIdentity[] {
    const rows = this.db
      .prepare(
        `SELECT model_name, model_sha256, tokenizer_sha256, COUNT(*) AS c FROM serve_memories
      WHERE model_sha256 IS NOT NULL GROUP BY model_sha256, tokenizer_sha256 ORDER BY MIN(n)`,
      )
      .all() as (MemoryRow & { c: number })[];
    return rows.map((r) => rowModel(r)!);
  }

  /**
   * Rows from before models were recorded get one: a done memory its .mem file's (as the store lists it), any other
   * row `assumed` (the model of the server now opening the store: the only one that can have queued them).
   */
  adoptLegacyRows(assumed: ModelIdentity): number {
    return this.db
      .transaction(() => {
        const a = this.db
          .prepare(
            `UPDATE serve_memories SET (model_name, model_sha256, tokenizer_sha256) =
        (SELECT model, model_sha256, tokenizer_sha256 FROM memories WHERE memories.n = serve_memories.store_n)
        WHERE model_sha256 IS NULL AND store_n IS NOT NULL
        AND EXISTS (SELECT 1 FROM memories WHERE memories.n = serve_memories.store_n)`,
          )
          .run().changes;
        const b = this.db
          .prepare(
            `UPDATE serve_memories SET model_name = ?, model_sha256 = ?, tokenizer_sha256 = ?
        WHERE model_sha256 IS NULL`,
          )
          .run(assumed.name, assumed.weights_sha256, assumed.tokenizer_sha256).changes;
        return a + b;
      })
      .immediate();
  }

  /** Writes one small row: a cheap check that the store takes writes now (health). Throws the SQLite error. */
  probeWritable(): void {
    this.db
      .transaction(() => {
        this.db
          .prepare(
            `INSERT INTO serve_meta (key, value) VALUES ('probe', ?)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
          )
          .run(now());
      })
      .immediate();
  }

  /** Saves a running job's checkpoint (its finished segments), so that a crash resumes it from there. */
  saveCheckpoint(n: number, data: Buffer): void {
    this.db.prepare("UPDATE serve_memories SET checkpoint = ? WHERE n = ? AND status = 'running'").run(data, n);
  }

  /** Jobs left `running` by a process that died: queued again (they resume from their checkpoints). Their ids. */
  requeueInterrupted(): number[] {
    return this.db
      .transaction(() => {
        const rows = this.db.prepare("SELECT n FROM serve_memories WHERE status = 'running' ORDER BY n").all() as {
          n: number;
        }[];
        this.db.prepare("UPDATE serve_memories SET status = 'queued', started = NULL WHERE status = 'running'").run();
        return rows.map((r) => r.n);
      })
      .immediate();
  }

  /** Queued + running jobs. */
  pendingCount(): number {
    return (
      this.db.prepare("SELECT COUNT(*) AS c FROM serve_memories WHERE status IN ('queued', 'running')").get() as {
        c: number;
      }
    ).c;
  }

  counts(): Record<JobStatus, number> {
    const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS c FROM serve_memories GROUP BY status').all() as {
      status: JobStatus;
      c: number;
    }[])
      out[r.status] = r.c;
    return out;
  }

  private insertJob(j: NewJob, sessionId: string | null, replaces: number | null = null): number {
    const info = this.db
      .prepare(
        `INSERT INTO serve_memories (status, text, text_sha256, text_chars, tokens, tags, session_id,
      created, model_name, model_sha256, tokenizer_sha256, replaces_n)
      VALUES ('queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        j.text,
        j.textSha256,
        j.text.length,
        j.tokens,
        JSON.stringify(j.tags),
        sessionId,
        now(),
        j.model.name,
        j.model.weights_sha256,
        j.model.tokenizer_sha256,
        replaces,
      );
    return Number(info.lastInsertRowid);
  }

  /** Queues a job unless `maxPending` jobs are already queued or running (then null). Atomic. */
  enqueue(j: NewJob, maxPending: number): number | null {
    return this.db.transaction(() => (this.pendingCount() >= maxPending ? null : this.insertJob(j, null))).immediate();
  }

  /**
   * Claims up to `maxTexts` queued jobs, oldest first, with at most `maxTokens` tokens in all (unless `oversizedFirst`
   * and the first alone has more: then it runs alone).
   */
  claim(model: ModelIdentity, maxTexts: number, maxTokens: number, oversizedFirst = true): MemoryRow[] {
    return this.db
      .transaction(() => {
        const rows = this.db
          .prepare(
            `SELECT * FROM serve_memories
        WHERE status = 'queued' AND model_sha256 = ? AND tokenizer_sha256 = ? ORDER BY n LIMIT ?`,
          )
          .all(model.weights_sha256, model.tokenizer_sha256, maxTexts) as MemoryRow[];
        const picked: MemoryRow[] = [];
        let tokens = 0;
        for (const r of rows) {
          if ((picked.length > 0 || !oversizedFirst) && tokens + r.tokens > maxTokens) break;
          picked.push(r);
          tokens += r.tokens;
        }
        const t = now();
        const upd = this.db.prepare(
          "UPDATE serve_memories SET status = 'running', runs = runs + 1, started = ? WHERE n = ?",
        );
        for (const r of picked) {
          upd.run(t, r.n);
          r.status = 'running';
          r.runs++;
          r.started = t;
        }
        return picked;
      })
      .immediate();
  }

  /**
   * Marks a running job done: the .mem goes into the store and, for a session's job, the memory takes the place of
   * its messages (and, for a merge, of the memory it re-crammed with them); all in one transaction. False when the
   * job is no longer running (deleted meanwhile, or already completed): nothing changes. A session's job whose text
   * could only be crammed in several segments is failed instead (such vectors cannot open a prompt), its messages
   * kept as text.
   */
  complete(n: number, mf: MemoryFile, bytes: Buffer, stats: Record<string, unknown>): boolean {
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare('SELECT status, tags, session_id, text, replaces_n FROM serve_memories WHERE n = ?')
          .get(n) as Pick<MemoryRow, 'status' | 'tags' | 'session_id' | 'text' | 'replaces_n'> | undefined;
        if (!row || row.status !== 'running') return false;
        if (row.session_id !== null && mf.segments.length > 1) {
          this.failRunning(
            n,
            row.session_id,
            `the session's text came out crammed in ${mf.segments.length} separate segments (not exact as one ` +
              'sequence, or a server started with a small --segment-tokens), whose vectors cannot open a prompt: ' +
              'its messages stay text, and the next crossing of --session-threshold tries again with more of them',
          );
          return true;
        }
        const tags = [
          ...(JSON.parse(row.tags) as string[]),
          memoryId(n),
          ...(row.session_id !== null ? [`session:${row.session_id}`] : []),
        ];
        const storeN = insertMemoryRow(this.db, mf, bytes, tags);
        this.db
          .prepare(
            `UPDATE serve_memories SET status = 'done', text = NULL, checkpoint = NULL, store_n = ?, stats = ?, error = NULL, finished = ?,
        completions = completions + 1 WHERE n = ?`,
          )
          .run(storeN, JSON.stringify(stats), now(), n);
        if (row.session_id !== null) this.placeSessionMemory(row.session_id, n, row.text, row.replaces_n ?? null);
        return true;
      })
      .immediate();
  }

  /**
   * In a session, a finished job's memory takes the place of the messages it holds; a merge's also of the memory it
   * replaces (that memory's row and store entry are deleted, and its id recorded as superseded by this one).
   */
  private placeSessionMemory(sid: string, n: number, text: string | null, replaces: number | null): void {
    const parts = this.db
      .prepare(
        "SELECT seq, tokens FROM serve_session_parts WHERE sid = ? AND kind = 'text' AND memory_n = ? ORDER BY seq",
      )
      .all(sid, n) as { seq: number; tokens: number }[];
    const old =
      replaces === null
        ? undefined
        : (this.db
            .prepare("SELECT seq, tokens FROM serve_session_parts WHERE sid = ? AND kind = 'memory' AND memory_n = ?")
            .get(sid, replaces) as { seq: number; tokens: number } | undefined);
    if (parts.length === 0 && !old) return;
    this.db.prepare("DELETE FROM serve_session_parts WHERE sid = ? AND kind = 'text' AND memory_n = ?").run(sid, n);
    if (old) {
      this.db
        .prepare("DELETE FROM serve_session_parts WHERE sid = ? AND kind = 'memory' AND memory_n = ?")
        .run(sid, replaces);
    }
    this.db
      .prepare(
        "INSERT INTO serve_session_parts (sid, seq, kind, text, tokens, memory_n) VALUES (?, ?, 'memory', ?, ?, ?)",
      )
      .run(sid, old?.seq ?? parts[0].seq, text, (old?.tokens ?? 0) + parts.reduce((a, p) => a + p.tokens, 0), n);
    if (replaces !== null) {
      const m = this.db.prepare('SELECT store_n FROM serve_memories WHERE n = ?').get(replaces) as
        { store_n: number | null } | undefined;
      if (m?.store_n != null) this.db.prepare('DELETE FROM memories WHERE n = ?').run(m.store_n);
      this.db.prepare('DELETE FROM serve_memories WHERE n = ?').run(replaces);
      this.db
        .prepare('INSERT OR REPLACE INTO serve_superseded (n, by_n, sid, at) VALUES (?, ?, ?, ?)')
        .run(replaces, n, sid, now());
      this.db.prepare('UPDATE serve_superseded SET by_n = ? WHERE by_n = ?').run(n, replaces);
    }
    this.db.prepare('UPDATE serve_sessions SET updated = ? WHERE sid = ?').run(now(), sid);
  }

  /**
   * Marks a running job failed with its reason. A session's messages stay text (a merge's memory stays too); they
   * are taken again, as the oldest text, by the session's next compression (when newer messages pass the threshold).
   */
  fail(n: number, message: string): boolean {
    return this.db
      .transaction(() => {
        const row = this.db.prepare('SELECT status, session_id FROM serve_memories WHERE n = ?').get(n) as
          Pick<MemoryRow, 'status' | 'session_id'> | undefined;
        if (!row || row.status !== 'running') return false;
        this.failRunning(n, row.session_id, message);
        return true;
      })
      .immediate();
  }

  private failRunning(n: number, sid: string | null, message: string): void {
    this.db
      .prepare(
        `UPDATE serve_memories SET status = 'failed', checkpoint = NULL, error = ?, finished = ?,
        completions = completions + 1 WHERE n = ?`,
      )
      .run(message, now(), n);
    if (sid !== null) {
      this.db
        .prepare(
          `UPDATE serve_session_parts SET memory_n = NULL, failed_n = ?
          WHERE sid = ? AND kind = 'text' AND memory_n = ?`,
        )
        .run(n, sid, n);
    }
  }

  /** Running jobs back to queued (a clean shutdown in the middle of a batch). */
  requeue(ns: number[]): void {
    this.db
      .transaction(() => {
        const upd = this.db.prepare(
          "UPDATE serve_memories SET status = 'queued', started = NULL WHERE n = ? AND status = 'running'",
        );
        for (const n of ns) upd.run(n);
      })
      .immediate();
  }

  get(n: number): MemoryRow | undefined {
    return this.db.prepare('SELECT * FROM serve_memories WHERE n = ?').get(n) as MemoryRow | undefined;
  }

  exists(n: number): boolean {
    return this.db.prepare('SELECT 1 FROM serve_memories WHERE n = ?').get(n) !== undefined;
  }

  /** A page of the memories matching the filter, and how many match in all. */
  list(filter: { status?: JobStatus; tag?: string; limit: number; offset: number }): {
    rows: MemoryRow[];
    total: number;
  } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.status) {
      where.push('status = ?');
      args.push(filter.status);
    }
    if (filter.tag) {
      where.push('EXISTS (SELECT 1 FROM json_each(serve_memories.tags) WHERE value = ?)');
      args.push(filter.tag);
    }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const sql = `SELECT n, status, NULL AS text, text_sha256, text_chars, tokens, tags, session_id, store_n, runs,
      completions, error, stats, created, started, finished, model_name, model_sha256, tokenizer_sha256,
      replaces_n FROM serve_memories ${cond} ORDER BY n LIMIT ? OFFSET ?`;
    const rows = this.db.prepare(sql).all(...args, filter.limit, filter.offset) as MemoryRow[];
    const { c } = this.db.prepare(`SELECT COUNT(*) AS c FROM serve_memories ${cond}`).get(...args) as { c: number };
    return { rows, total: c };
  }

  /** Deletes a memory (and its store entry). 'session' when it belongs to a session (delete the session instead). */
  deleteMemory(n: number): 'deleted' | 'missing' | 'session' {
    return this.db
      .transaction(() => {
        const row = this.get(n);
        if (!row) return 'missing';
        if (row.session_id !== null) return 'session';
        if (row.store_n !== null) this.db.prepare('DELETE FROM memories WHERE n = ?').run(row.store_n);
        this.db.prepare('DELETE FROM serve_memories WHERE n = ?').run(n);
        return 'deleted';
      })
      .immediate();
  }

  /** Whether the store still holds entry mem-<storeN> (`cram store rm` may have removed it). */
  hasEntry(storeN: number): boolean {
    return this.db.prepare('SELECT 1 FROM memories WHERE n = ?').get(storeN) !== undefined;
  }

  /** The stored .mem bytes of a done memory. */
  memoryBytes(storeN: number): Buffer | undefined {
    return (this.db.prepare('SELECT data FROM memories WHERE n = ?').get(storeN) as { data: Buffer } | undefined)?.data;
  }

  // ---- sessions ----

  /**
   * Appends a message (its stored text, token count) to a session, creating the session on first use. When the text
   * not yet compressed (nor failed) then passes the threshold, a compression job is queued in the same transaction:
   * the oldest text parts but the newest that hold keepTokens, after the session's memory's text when it has one (a
   * merge: the new memory will replace the old one too), at most maxChunkTokens in all. So a session holds one
   * memory, always, opening its context. No job (`skipped` says why): one of the session's is pending; the queue is
   * full; the memory cannot take the oldest message within maxChunkTokens (full: the messages stay text); or the
   * session's layout is from before merging (a memory without its text, or not first).
   */
  appendMessage(
    sid: string,
    text: string,
    tokens: number,
    s: SessionSettings,
    chunk: (parts: PartRow[]) => NewJob,
    maxPending: number,
  ): { seq: number; job: number | null; skipped: NoCompression | null } {
    return this.db
      .transaction(() => {
        const t = now();
        this.db
          .prepare(
            'INSERT INTO serve_sessions (sid, created, updated) VALUES (?, ?, ?) ON CONFLICT (sid) DO UPDATE SET updated = excluded.updated',
          )
          .run(sid, t, t);
        const { next_seq: seq } = this.db.prepare('SELECT next_seq FROM serve_sessions WHERE sid = ?').get(sid) as {
          next_seq: number;
        };
        this.db.prepare('UPDATE serve_sessions SET next_seq = next_seq + 1 WHERE sid = ?').run(sid);
        this.db
          .prepare("INSERT INTO serve_session_parts (sid, seq, kind, text, tokens) VALUES (?, ?, 'text', ?, ?)")
          .run(sid, seq, text, tokens);
        const none = (skipped: NoCompression | null) => ({ seq, job: null, skipped });
        const parts = this.sessionParts(sid);
        const texts = parts.filter((p) => p.kind === 'text');
        // The threshold counts text not compressed and not being compressed (failed text waits for newer text).
        const open = texts.filter((p) => p.memory_n === null && p.failed_n === null);
        if (open.reduce((a, p) => a + p.tokens, 0) <= s.thresholdTokens) return none(null);
        if (texts.some((p) => p.memory_n !== null)) return none('pending');
        if (this.pendingCount() >= maxPending) return none('queue_full');
        const mems = parts.filter((p) => p.kind === 'memory');
        const base = mems.length > 0 ? mems[0] : null;
        if (base && (mems.length > 1 || parts[0] !== base || base.text === null)) return none('legacy_layout');
        // Keep the newest messages that hold at least keepTokens as text; compress the older ones (failed ones
        // again: they are the oldest), oldest first, after the memory's text, at most maxChunkTokens in all.
        let cut = texts.length;
        for (let kept = 0; cut > 0 && kept < s.keepTokens;) kept += texts[--cut].tokens;
        const take: PartRow[] = base ? [base] : [];
        let taken = base ? base.tokens : 0;
        for (const p of texts.slice(0, cut)) {
          if (take.length > 0 && taken + p.tokens > s.maxChunkTokens) break;
          take.push(p);
          taken += p.tokens;
        }
        // The joined text's own token count decides (tokens can merge across a boundary); a first compression
        // takes at least one message.
        let j: NewJob;
        for (;;) {
          const messages = take.length - (base ? 1 : 0);
          if (messages === 0) return none(base && cut > 0 ? 'memory_full' : null);
          j = chunk(take);
          if (j.tokens <= s.maxChunkTokens || (!base && messages === 1)) break;
          take.pop();
        }
        const job = this.insertJob(j, sid, base ? base.memory_n : null);
        const mark = this.db.prepare('UPDATE serve_session_parts SET memory_n = ? WHERE sid = ? AND seq = ?');
        for (const p of take) if (p !== base) mark.run(job, sid, p.seq);
        return { seq, job, skipped: null };
      })
      .immediate();
  }

  /**
   * Whether the session's memory is full: it cannot take its oldest text message within maxChunkTokens (by the
   * parts' token counts), or it is from before merging (no text kept). Its newer messages then stay text.
   */
  memoryFull(sid: string, s: SessionSettings): boolean {
    const parts = this.sessionParts(sid);
    const base = parts.find((p) => p.kind === 'memory');
    const oldest = parts.find((p) => p.kind === 'text');
    if (!base || !oldest) return false;
    return base.text === null || base.tokens + oldest.tokens > s.maxChunkTokens;
  }

  /** The memory that replaced memory n (merged with a session's newer messages), if one did. */
  supersededBy(n: number): { by: number; sid: string } | undefined {
    const r = this.db.prepare('SELECT by_n, sid FROM serve_superseded WHERE n = ?').get(n) as
      { by_n: number; sid: string } | undefined;
    return r && { by: r.by_n, sid: r.sid };
  }

  sessionExists(sid: string): boolean {
    return this.db.prepare('SELECT 1 FROM serve_sessions WHERE sid = ?').get(sid) !== undefined;
  }

  sessionParts(sid: string): PartRow[] {
    return this.db.prepare('SELECT * FROM serve_session_parts WHERE sid = ? ORDER BY seq').all(sid) as PartRow[];
  }

  /** Deletes a session, its parts, its memories (and their store entries) and its pending jobs. */
  deleteSession(sid: string): boolean {
    return this.db
      .transaction(() => {
        if (!this.sessionExists(sid)) return false;
        this.db
          .prepare(
            'DELETE FROM memories WHERE n IN (SELECT store_n FROM serve_memories WHERE session_id = ? AND store_n IS NOT NULL)',
          )
          .run(sid);
        this.db.prepare('DELETE FROM serve_memories WHERE session_id = ?').run(sid);
        this.db.prepare('DELETE FROM serve_session_parts WHERE sid = ?').run(sid);
        this.db.prepare('DELETE FROM serve_superseded WHERE sid = ?').run(sid);
        this.db.prepare('DELETE FROM serve_sessions WHERE sid = ?').run(sid);
        return true;
      })
      .immediate();
  }
}

/**
 * Before the server's first connection: creates a new store file with mode 0600 (SQLite gives its -wal and -shm the
 * database file's mode), and clears a leftover `-shm` this process cannot write (left by a process run as another
 * user, or by a read-only mount since fixed): it only caches the WAL's index and is rebuilt when missing.
 */
function prepareStoreFile(path: string): void {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    try {
      closeSync(openSync(path, 'wx', 0o600));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const shm = `${path}-shm`;
  if (!existsSync(shm)) return;
  let writable = true;
  try {
    closeSync(openSync(shm, 'r+'));
  } catch {
    writable = false;
  }
  // Root can write any file: its mode still tells what SQLite will make of it.
  if (writable && (statSync(shm).mode & 0o200) !== 0) return;
  try {
    try {
      chmodSync(shm, 0o600);
    } catch {
      /* not ours: remove it below */
    }
    if ((statSync(shm).mode & 0o200) === 0 || !canOpenForWrite(shm)) rmSync(shm);
  } catch (e) {
    throw new StoreUnusableError(
      `the store's shared-memory file ${shm} cannot be written and cannot be removed ` +
        `(${(e as Error).message}); ` +
        'stop every process using the store, then delete that file (SQLite rebuilds it)',
    );
  }
}

function canOpenForWrite(file: string): boolean {
  try {
    closeSync(openSync(file, 'r+'));
    return true;
  } catch {
    return false;
  }
}

/**
 * The memory service's state, in the same SQLite database as the `.mem` store (src/compress/store.ts):
 *
 * - `serve_memories`: one row per memory the service was asked for (POST /v1/memories, or a session's compression).
 *   The row is the job: queued → running → done | failed. Its id is `mem-id-<n>` (the `[mem-id-<n>]` placeholder).
 *   A finished memory's `.mem` bytes go into the store's own `memories` table (so `cram store list|get` see them,
 *   tagged `mem-id-<n>`) in the same transaction that marks the job done: a job is done at most once, and an
 *   acknowledged job is never lost (it is committed before the 202 is sent).
 * - `serve_sessions`, `serve_session_parts`: a session's context as ordered parts, each a message's text or a memory
 *   that replaced the oldest messages.
 *
 * Crash safety: every state change is one transaction (WAL, synchronous=NORMAL: a committed transaction survives a
 * kill -9 of the process; a power loss may lose the last ones). A job found `running` at start-up was interrupted:
 * it is queued again and re-run from its start (its `runs` counter shows it).
 */
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
  finished TEXT
);
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

/** `mem-id-<n>` → n, or null when the string is not such an id. */
export function parseMemoryId(id: string): number | null {
  const m = /^mem-id-(\d{1,15})$/.exec(id);
  return m ? Number(m[1]) : null;
}

const now = () => new Date().toISOString();

export interface NewJob {
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
  /** Most tokens one compression takes. */
  maxChunkTokens: number;
}

export class ServeDb {
  readonly store: MemoryStore;
  readonly db: Database.Database;

  constructor(path?: string) {
    this.store = new MemoryStore({ path });
    this.db = this.store.db;
    this.db.transaction(() => this.db.exec(SCHEMA)).immediate();
  }

  get path(): string { return this.store.path; }

  close(): void { this.store.close(); }

  /** Jobs left `running` by a process that died: queued again (they re-run from their start). Returns their ids. */
  requeueInterrupted(): number[] {
    return this.db.transaction(() => {
      const rows = this.db.prepare("SELECT n FROM serve_memories WHERE status = 'running' ORDER BY n").all() as { n: number }[];
      this.db.prepare("UPDATE serve_memories SET status = 'queued', started = NULL WHERE status = 'running'").run();
      return rows.map((r) => r.n);
    }).immediate();
  }

  /** Queued + running jobs. */
  pendingCount(): number {
    return (this.db.prepare("SELECT COUNT(*) AS c FROM serve_memories WHERE status IN ('queued', 'running')").get() as { c: number }).c;
  }

  counts(): Record<JobStatus, number> {
    const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS c FROM serve_memories GROUP BY status').all() as { status: JobStatus; c: number }[]) out[r.status] = r.c;
    return out;
  }

  private insertJob(j: NewJob, sessionId: string | null): number {
    const info = this.db.prepare(`INSERT INTO serve_memories (status, text, text_sha256, text_chars, tokens, tags, session_id, created)
      VALUES ('queued', ?, ?, ?, ?, ?, ?, ?)`).run(j.text, j.textSha256, j.text.length, j.tokens, JSON.stringify(j.tags), sessionId, now());
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
  claim(maxTexts: number, maxTokens: number, oversizedFirst = true): MemoryRow[] {
    return this.db.transaction(() => {
      const rows = this.db.prepare("SELECT * FROM serve_memories WHERE status = 'queued' ORDER BY n LIMIT ?").all(maxTexts) as MemoryRow[];
      const picked: MemoryRow[] = [];
      let tokens = 0;
      for (const r of rows) {
        if ((picked.length > 0 || !oversizedFirst) && tokens + r.tokens > maxTokens) break;
        picked.push(r);
        tokens += r.tokens;
      }
      const t = now();
      const upd = this.db.prepare("UPDATE serve_memories SET status = 'running', runs = runs + 1, started = ? WHERE n = ?");
      for (const r of picked) { upd.run(t, r.n); r.status = 'running'; r.runs++; r.started = t; }
      return picked;
    }).immediate();
  }

  /**
   * Marks a running job done: the .mem goes into the store and, for a session's job, its messages are replaced by
   * the memory; all in one transaction. False when the job is no longer running (deleted meanwhile): nothing changes.
   */
  complete(n: number, mf: MemoryFile, bytes: Buffer, stats: Record<string, unknown>): boolean {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT status, tags, session_id FROM serve_memories WHERE n = ?').get(n) as Pick<MemoryRow, 'status' | 'tags' | 'session_id'> | undefined;
      if (!row || row.status !== 'running') return false;
      const tags = [...(JSON.parse(row.tags) as string[]), memoryId(n), ...(row.session_id !== null ? [`session:${row.session_id}`] : [])];
      const storeN = insertMemoryRow(this.db, mf, bytes, tags);
      this.db.prepare(`UPDATE serve_memories SET status = 'done', text = NULL, store_n = ?, stats = ?, error = NULL, finished = ?,
        completions = completions + 1 WHERE n = ?`).run(storeN, JSON.stringify(stats), now(), n);
      if (row.session_id !== null) {
        const parts = this.db.prepare("SELECT seq, tokens FROM serve_session_parts WHERE sid = ? AND kind = 'text' AND memory_n = ? ORDER BY seq").all(row.session_id, n) as { seq: number; tokens: number }[];
        if (parts.length > 0) {
          this.db.prepare("DELETE FROM serve_session_parts WHERE sid = ? AND kind = 'text' AND memory_n = ?").run(row.session_id, n);
          this.db.prepare("INSERT INTO serve_session_parts (sid, seq, kind, text, tokens, memory_n) VALUES (?, ?, 'memory', NULL, ?, ?)")
            .run(row.session_id, parts[0].seq, parts.reduce((a, p) => a + p.tokens, 0), n);
          this.db.prepare('UPDATE serve_sessions SET updated = ? WHERE sid = ?').run(now(), row.session_id);
        }
      }
      return true;
    }).immediate();
  }

  /** Marks a running job failed with its reason; a session's messages stay text (and are not tried again). */
  fail(n: number, message: string): boolean {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT status, session_id FROM serve_memories WHERE n = ?').get(n) as Pick<MemoryRow, 'status' | 'session_id'> | undefined;
      if (!row || row.status !== 'running') return false;
      this.db.prepare("UPDATE serve_memories SET status = 'failed', error = ?, finished = ?, completions = completions + 1 WHERE n = ?").run(message, now(), n);
      if (row.session_id !== null) {
        this.db.prepare("UPDATE serve_session_parts SET memory_n = NULL, failed_n = ? WHERE sid = ? AND kind = 'text' AND memory_n = ?").run(n, row.session_id, n);
      }
      return true;
    }).immediate();
  }

  /** Running jobs back to queued (a clean shutdown in the middle of a batch). */
  requeue(ns: number[]): void {
    this.db.transaction(() => {
      const upd = this.db.prepare("UPDATE serve_memories SET status = 'queued', started = NULL WHERE n = ? AND status = 'running'");
      for (const n of ns) upd.run(n);
    }).immediate();
  }

  get(n: number): MemoryRow | undefined {
    return this.db.prepare('SELECT * FROM serve_memories WHERE n = ?').get(n) as MemoryRow | undefined;
  }

  exists(n: number): boolean {
    return this.db.prepare('SELECT 1 FROM serve_memories WHERE n = ?').get(n) !== undefined;
  }

  list(filter: { status?: JobStatus; tag?: string; limit: number; offset: number }): MemoryRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.status) { where.push('status = ?'); args.push(filter.status); }
    if (filter.tag) { where.push('EXISTS (SELECT 1 FROM json_each(serve_memories.tags) WHERE value = ?)'); args.push(filter.tag); }
    const sql = `SELECT n, status, NULL AS text, text_sha256, text_chars, tokens, tags, session_id, store_n, runs, completions, error, stats, created, started, finished
      FROM serve_memories ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY n LIMIT ? OFFSET ?`;
    return this.db.prepare(sql).all(...args, filter.limit, filter.offset) as MemoryRow[];
  }

  /** Deletes a memory (and its store entry). 'session' when it belongs to a session (delete the session instead). */
  deleteMemory(n: number): 'deleted' | 'missing' | 'session' {
    return this.db.transaction(() => {
      const row = this.get(n);
      if (!row) return 'missing';
      if (row.session_id !== null) return 'session';
      if (row.store_n !== null) this.db.prepare('DELETE FROM memories WHERE n = ?').run(row.store_n);
      this.db.prepare('DELETE FROM serve_memories WHERE n = ?').run(n);
      return 'deleted';
    }).immediate();
  }

  /** The stored .mem bytes of a done memory. */
  memoryBytes(storeN: number): Buffer | undefined {
    return (this.db.prepare('SELECT data FROM memories WHERE n = ?').get(storeN) as { data: Buffer } | undefined)?.data;
  }

  // ---- sessions ----

  /**
   * Appends a message (its stored text, token count) to a session, creating the session on first use; when the
   * uncompressed text then passes the threshold, the oldest messages are handed to a new compression job in the same
   * transaction. Returns the part's seq and the job's number, if one was queued.
   */
  appendMessage(sid: string, text: string, tokens: number, s: SessionSettings, chunk: (parts: PartRow[]) => NewJob, maxPending: number): { seq: number; job: number | null } {
    return this.db.transaction(() => {
      const t = now();
      this.db.prepare('INSERT INTO serve_sessions (sid, created, updated) VALUES (?, ?, ?) ON CONFLICT (sid) DO UPDATE SET updated = excluded.updated').run(sid, t, t);
      const { next_seq: seq } = this.db.prepare('SELECT next_seq FROM serve_sessions WHERE sid = ?').get(sid) as { next_seq: number };
      this.db.prepare('UPDATE serve_sessions SET next_seq = next_seq + 1 WHERE sid = ?').run(sid);
      this.db.prepare("INSERT INTO serve_session_parts (sid, seq, kind, text, tokens) VALUES (?, ?, 'text', ?, ?)").run(sid, seq, text, tokens);
      // Text not compressed and not being compressed (a failed compression's text stays text for good).
      const open = this.db.prepare("SELECT * FROM serve_session_parts WHERE sid = ? AND kind = 'text' AND memory_n IS NULL AND failed_n IS NULL ORDER BY seq").all(sid) as PartRow[];
      const total = open.reduce((a, p) => a + p.tokens, 0);
      if (total <= s.thresholdTokens || this.pendingCount() >= maxPending) return { seq, job: null };
      // Keep the newest messages that hold at least keepTokens as text; compress the older ones (at most
      // maxChunkTokens of them, oldest first, at least one).
      let cut = open.length;
      for (let kept = 0; cut > 0 && kept < s.keepTokens;) kept += open[--cut].tokens;
      const take: PartRow[] = [];
      let taken = 0;
      for (const p of open.slice(0, cut)) {
        if (take.length > 0 && taken + p.tokens > s.maxChunkTokens) break;
        take.push(p);
        taken += p.tokens;
      }
      if (take.length === 0) return { seq, job: null };
      const job = this.insertJob(chunk(take), sid);
      const mark = this.db.prepare('UPDATE serve_session_parts SET memory_n = ? WHERE sid = ? AND seq = ?');
      for (const p of take) mark.run(job, sid, p.seq);
      return { seq, job };
    }).immediate();
  }

  sessionExists(sid: string): boolean {
    return this.db.prepare('SELECT 1 FROM serve_sessions WHERE sid = ?').get(sid) !== undefined;
  }

  sessionParts(sid: string): PartRow[] {
    return this.db.prepare('SELECT * FROM serve_session_parts WHERE sid = ? ORDER BY seq').all(sid) as PartRow[];
  }

  /** Deletes a session, its parts, its memories (and their store entries) and its pending jobs. */
  deleteSession(sid: string): boolean {
    return this.db.transaction(() => {
      if (!this.sessionExists(sid)) return false;
      this.db.prepare('DELETE FROM memories WHERE n IN (SELECT store_n FROM serve_memories WHERE session_id = ? AND store_n IS NOT NULL)').run(sid);
      this.db.prepare('DELETE FROM serve_memories WHERE session_id = ?').run(sid);
      this.db.prepare('DELETE FROM serve_session_parts WHERE sid = ?').run(sid);
      this.db.prepare('DELETE FROM serve_sessions WHERE sid = ?').run(sid);
      return true;
    }).immediate();
  }
}

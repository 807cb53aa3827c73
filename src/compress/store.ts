/**
 * A local store of `.mem` files on SQLite (better-sqlite3 12.x). The file bytes are kept in the database (BLOB) next
 * to columns for listing (model, tokens, total K, text hash, tags). WAL mode plus a busy timeout let several
 * processes add at once; ids are `mem-<n>` with n from an AUTOINCREMENT key, so an id is never reused after `rm`.
 *
 * Location: the `path` option, else $CRAM_STORE, else ~/.cache/cramming/store.db. Only `create: true` (adding) makes a
 * new database; opening a path that holds none for reading is an error (a typo must not leave an empty store behind).
 */
import { existsSync, mkdirSync, writeFileSync, renameSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { parseMemoryFile, serializeMemoryFile, totalVectors, type MemoryFile } from './memory-file.ts';

export function defaultStorePath(): string {
  const env = process.env.CRAM_STORE;
  return env && env.trim() !== '' ? resolve(env) : join(homedir(), '.cache', 'cramming', 'store.db');
}

export interface StoreEntry {
  id: string;
  model: string;
  modelSha256: string;
  nTokens: number;
  nSegments: number;
  /** Vectors over all segments. */
  kTotal: number;
  textSha256: string;
  textChars: number;
  /** Size of the .mem file. */
  bytes: number;
  /** When the entry was added (ISO). */
  added: string;
  /** When the .mem file was made (from its metadata). */
  created: string;
  tags: string[];
}

interface Row {
  n: number;
  model: string;
  model_sha256: string;
  n_tokens: number;
  n_segments: number;
  k_total: number;
  text_sha256: string;
  text_chars: number;
  bytes: number;
  added: string;
  created: string;
  tags: string;
  data_len?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS memories (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  model TEXT NOT NULL,
  model_sha256 TEXT NOT NULL,
  tokenizer_sha256 TEXT NOT NULL,
  n_tokens INTEGER NOT NULL,
  n_segments INTEGER NOT NULL,
  k_total INTEGER NOT NULL,
  text_sha256 TEXT NOT NULL,
  text_chars INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  added TEXT NOT NULL,
  created TEXT NOT NULL,
  tags TEXT NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_text ON memories (text_sha256);
`;

const COLUMNS =
  'n, model, model_sha256, n_tokens, n_segments, k_total, text_sha256, text_chars, bytes, added, created, tags';

export class StoreError extends Error {}

function parseId(id: string): number {
  const m = /^mem-(\d+)$/.exec(id.trim());
  if (!m) throw new StoreError(`"${id}" is not a store id (expected mem-<n>, as \`store list\` shows)`);
  return Number(m[1]);
}

const HEX64 = /^[0-9a-f]{64}$/;

/** What is wrong with a row read back from the database (a scribbled page, a hand edit), or null when it is sound. */
function rowProblem(r: Row): string | null {
  const id = Number.isSafeInteger(r.n) ? `mem-${r.n}` : `row ${JSON.stringify(r.n)}`;
  const bad = (field: string, v: unknown) => `${id}: ${field} is ${JSON.stringify(v)?.slice(0, 60)}`;
  if (!Number.isSafeInteger(r.n) || r.n < 1) return bad('the id', r.n);
  if (typeof r.model !== 'string' || r.model === '' || /[\u0000-\u001f]/.test(r.model)) return bad('model', r.model);
  for (const k of ['model_sha256', 'text_sha256'] as const)
    if (typeof r[k] !== 'string' || !HEX64.test(r[k])) return bad(k, r[k]);
  for (const k of ['n_tokens', 'n_segments', 'k_total', 'text_chars', 'bytes'] as const) {
    if (!Number.isSafeInteger(r[k]) || r[k] < 0) return bad(k, r[k]);
  }
  if (r.data_len !== undefined && r.data_len !== r.bytes)
    return `${id}: the stored file has ${r.data_len} bytes but the row says ${r.bytes}`;
  for (const k of ['added', 'created'] as const)
    if (typeof r[k] !== 'string' || !Number.isFinite(Date.parse(r[k]))) return bad(k, r[k]);
  let tags: unknown;
  try {
    tags = JSON.parse(r.tags);
  } catch {
    return bad('tags', r.tags);
  }
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) return bad('tags', r.tags);
  return null;
}

function toEntry(r: Row): StoreEntry {
  return {
    id: `mem-${r.n}`,
    model: r.model,
    modelSha256: r.model_sha256,
    nTokens: r.n_tokens,
    nSegments: r.n_segments,
    kTotal: r.k_total,
    textSha256: r.text_sha256,
    textChars: r.text_chars,
    bytes: r.bytes,
    added: r.added,
    created: r.created,
    tags: JSON.parse(r.tags) as string[],
  };
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return (
    code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'))
  );
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs f, retrying while SQLite says the database is busy. The busy timeout covers ordinary lock waits, but some
 * steps return SQLITE_BUSY at once (switching a fresh database to WAL while another process opens it, for one).
 */
function retryBusy<T>(f: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return f();
    } catch (e) {
      if (!isBusy(e) || Date.now() >= deadline) throw e;
      sleepSync(10 + Math.random() * 40);
    }
  }
}

/**
 * Inserts a validated .mem file (its bytes and the parsed object) on a store connection; returns the row number n
 * (id mem-<n>). Runs inside the caller's transaction when there is one (the memory service commits a finished job
 * and its entry together).
 */
export function insertMemoryRow(db: Database.Database, mf: MemoryFile, bytes: Buffer, tags: string[]): number {
  for (const t of tags) if (typeof t !== 'string' || t === '') throw new StoreError('tags must be non-empty strings');
  const info = db
    .prepare(
      `INSERT INTO memories (model, model_sha256, tokenizer_sha256, n_tokens, n_segments, k_total, text_sha256, text_chars, bytes, added, created, tags, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      mf.model,
      mf.modelSha256,
      mf.tokenizerSha256,
      mf.nTokens,
      mf.segments.length,
      totalVectors(mf),
      mf.textSha256,
      mf.textChars,
      bytes.byteLength,
      new Date().toISOString(),
      mf.created,
      JSON.stringify([...new Set(tags)]),
      bytes,
    );
  return Number(info.lastInsertRowid);
}

export class MemoryStore {
  readonly path: string;
  /** The connection (WAL, busy timeout set): other tables of the same database (the memory service's) use it too. */
  readonly db: Database.Database;
  private readonly timeoutMs: number;

  constructor(options: { path?: string; busyTimeoutMs?: number; create?: boolean } = {}) {
    this.path = options.path ? resolve(options.path) : defaultStorePath();
    this.timeoutMs = options.busyTimeoutMs ?? 30_000;
    const create = options.create ?? true;
    if (!create && !existsSync(this.path)) {
      throw new StoreError(
        `no store at ${this.path} (nothing was ever added there); check --store / $CRAM_STORE, or add a file with \`store add\` first`,
      );
    }
    if (create) mkdirSync(dirname(this.path), { recursive: true });
    let db: Database.Database | null = null;
    try {
      // `timeout` is SQLite's busy timeout: a writer waits for another process's lock instead of failing.
      db = new Database(this.path, { timeout: this.timeoutMs, fileMustExist: !create });
      const conn = db;
      retryBusy(() => {
        if (String(conn.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal')
          conn.pragma('journal_mode = WAL');
        conn.pragma('synchronous = NORMAL');
        conn.transaction(() => conn.exec(SCHEMA)).immediate();
      }, this.timeoutMs);
    } catch (e) {
      db?.close();
      throw new StoreError(`cannot open the store at ${this.path}: ${(e as Error).message}`);
    }
    this.db = db;
  }

  /** Adds a .mem file (object, bytes, or path); the bytes are validated first. Returns the new id. */
  add(file: MemoryFile | Uint8Array | string, tags: string[] = []): string {
    let bytes: Buffer;
    let mf: MemoryFile;
    if (typeof file === 'string') {
      bytes = readFileSync(file);
      mf = parseMemoryFile(bytes, file);
    } else if (file instanceof Uint8Array) {
      bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
      mf = parseMemoryFile(bytes);
    } else {
      bytes = serializeMemoryFile(file);
      mf = file;
    }
    const n = retryBusy(() => insertMemoryRow(this.db, mf, bytes, tags), this.timeoutMs);
    return `mem-${n}`;
  }

  list(filter: { tag?: string; model?: string } = {}): StoreEntry[] {
    return this.scan(filter).entries;
  }

  /**
   * The entries whose rows are sound, and one line per damaged row (or for the database itself, failing SQLite's
   * quick_check) saying what is wrong: `store list` prints the entries and warns about the rest (rc 1).
   */
  scan(filter: { tag?: string; model?: string } = {}): { entries: StoreEntry[]; problems: string[] } {
    const problems: string[] = [];
    let rows: Row[];
    try {
      const check = this.db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
      const msgs = check.map((r) => String(Object.values(r)[0])).filter((m) => m !== 'ok');
      if (msgs.length) problems.push(`the database fails SQLite's quick_check: ${msgs.slice(0, 3).join('; ')}`);
      rows = this.db.prepare(`SELECT ${COLUMNS}, length(data) AS data_len FROM memories ORDER BY n`).all() as Row[];
    } catch (e) {
      throw new StoreError(
        `the store at ${this.path} is damaged (${(e as Error).message}); restore it from a backup or ` +
          'export what is readable with `sqlite3 <db> .recover`',
      );
    }
    const entries: StoreEntry[] = [];
    for (const r of rows) {
      const problem = rowProblem(r);
      if (problem) problems.push(problem);
      else entries.push(toEntry(r));
    }
    const wanted = entries.filter(
      (e) =>
        (filter.tag === undefined || e.tags.includes(filter.tag)) &&
        (filter.model === undefined || e.model === filter.model),
    );
    return { entries: wanted, problems };
  }

  entry(id: string): StoreEntry {
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM memories WHERE n = ?`).get(parseId(id)) as Row | undefined;
    if (!row) throw new StoreError(`no entry ${id} in the store at ${this.path}`);
    return toEntry(row);
  }

  /** The stored .mem bytes. */
  getBytes(id: string): Buffer {
    const row = this.db.prepare('SELECT data FROM memories WHERE n = ?').get(parseId(id)) as
      { data: Buffer } | undefined;
    if (!row) throw new StoreError(`no entry ${id} in the store at ${this.path}`);
    return row.data;
  }

  /** The stored file, parsed and validated, and checked against its row (a damaged entry is refused). */
  get(id: string): MemoryFile {
    const where = `${this.path}#${id}`;
    const row = this.db
      .prepare(`SELECT ${COLUMNS}, length(data) AS data_len FROM memories WHERE n = ?`)
      .get(parseId(id)) as Row | undefined;
    if (!row) throw new StoreError(`no entry ${id} in the store at ${this.path}`);
    const problem = rowProblem(row);
    if (problem) throw new StoreError(`${this.path}: entry ${problem}: the entry is damaged`);
    const mf = parseMemoryFile(this.getBytes(id), where);
    const pairs: [string, unknown, unknown][] = [
      ['model', row.model, mf.model],
      ['model_sha256', row.model_sha256, mf.modelSha256],
      ['text_sha256', row.text_sha256, mf.textSha256],
      ['n_tokens', row.n_tokens, mf.nTokens],
      ['text_chars', row.text_chars, mf.textChars],
      ['k_total', row.k_total, totalVectors(mf)],
      ['n_segments', row.n_segments, mf.segments.length],
    ];
    for (const [field, inRow, inFile] of pairs) {
      if (inRow !== inFile) {
        throw new StoreError(
          `${where}: the row says ${field} ${JSON.stringify(inRow)} but the stored .mem says ${JSON.stringify(inFile)}: the entry is damaged`,
        );
      }
    }
    return mf;
  }

  /** Writes the stored bytes to a file (atomically); returns the byte count. */
  writeTo(id: string, path: string): number {
    const bytes = this.getBytes(id);
    writeFileSync(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path);
    return bytes.byteLength;
  }

  /** Removes an entry; an unknown id is an error. */
  rm(id: string): void {
    const n = parseId(id);
    const info = retryBusy(() => this.db.prepare('DELETE FROM memories WHERE n = ?').run(n), this.timeoutMs);
    if (info.changes === 0) throw new StoreError(`no entry ${id} in the store at ${this.path}`);
  }

  integrityCheck(): string {
    return String(this.db.pragma('integrity_check', { simple: true }));
  }

  close(): void {
    this.db.close();
  }
}

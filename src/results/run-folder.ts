/**
 * A run's folder: results/<run>/ with config.yaml, environment.json, sessions.jsonl, the kind's record file (for the
 * capacity sweep samples.jsonl: appended and flushed as each text finishes, the resume log), other JSONL files
 * (curves.jsonl), results.csv, vectors/, the report. Reading tolerates torn or corrupt lines (kill -9 mid-write, a
 * damaged disk): they are skipped and reported, never fatal, and a torn last line is ended before the next append.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../files.ts';
import { z } from 'zod';
import { toCsv } from './csv.ts';
import { parseLine, type LineSchema } from './record-schema.ts';

/** A line of a JSONL file that could not be read (torn by a kill, or damaged), or is not a valid record. */
export interface BadLine {
  file: string;
  line: number;
  text: string;
  /** Why it was skipped: "not valid JSON", or the field that is wrong ("best_accuracy: missing"). */
  reason?: string;
}

/** Reads the lines of a run file, each validated by `schema` when given (bad lines skipped and passed on). */
export type JsonlReader = <S extends LineSchema>(file: string, schema: S) => z.output<S>[];

/** sessions.jsonl: a start line when a session begins, `alive` lines while it runs, an end line when it stops. */
export const SessionLineSchema = z.object({
  session: z.string().optional(),
  event: z.enum(['start', 'alive', 'end']).optional(),
  at: z.string().optional(),
  seconds: z.number().optional(),
  stopped: z.string().optional(),
  /** Records made so far in the session (alive and end lines). */
  records: z.number().optional(),
  /** Before sessions had start/alive/end lines: one line per finished session. */
  started: z.string().optional(),
  interrupted: z.boolean().optional(),
});
export type SessionLine = z.infer<typeof SessionLineSchema>;

export interface SessionSummary {
  /** Wall time over every session, killed ones included (up to their last heartbeat). */
  seconds: number;
  sessions: number;
  /** Sessions stopped by a signal (finished their step, or stopped at once). */
  interrupted: number;
  /** Sessions with no end line: killed (kill -9, power cut) or still running. */
  unfinished: number;
}

export class RunFolder {
  constructor(readonly dir: string) {}

  exists(): boolean {
    return existsSync(this.dir);
  }

  create(): this {
    mkdirSync(this.dir, { recursive: true });
    return this;
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** The lines of a JSONL file in the run folder valid by `schema`; the others are skipped and passed to `onBadLine`. */
  readJsonl<S extends LineSchema>(
    name: string,
    onBadLine: ((bad: BadLine) => void) | undefined,
    schema: S,
  ): z.output<S>[] {
    return readJsonl(this.path(name), (line, text, reason) => onBadLine?.({ file: name, line, text, reason }), schema);
  }

  /** Appends one JSON line, flushed to disk before returning (a finished record is never lost to a crash). */
  append(name: string, value: object): void {
    const file = this.path(name);
    mkdirSync(dirname(file), { recursive: true });
    appendLine(file, JSON.stringify(value));
  }

  /** Writes a file atomically (temp + rename), so a crash never leaves half a file. */
  writeAtomic(name: string, content: string): void {
    writeFileAtomic(this.path(name), content);
  }

  writeCsv<T extends object>(name: string, rows: readonly T[], columns: readonly (keyof T & string)[]): void {
    this.writeAtomic(name, toCsv(rows, [...columns]));
  }

  /** Begins a session: a start line now, `alive` lines on heartbeat(), an end line on end(). */
  startSession(info: Record<string, unknown> = {}): RunSession {
    return new RunSession(this, info);
  }

  /** Wall time and counts over all sessions of this run (killed sessions up to their last heartbeat). */
  sessions(): SessionSummary | undefined {
    const lines = this.readJsonl('sessions.jsonl', undefined, SessionLineSchema);
    if (lines.length === 0) return undefined;
    const byId = new Map<string, SessionLine[]>();
    let seconds = 0;
    let sessions = 0;
    let interrupted = 0;
    for (const l of lines) {
      if (l.session === undefined) {
        // The older one-line-per-session format.
        if (typeof l.seconds === 'number') seconds += l.seconds;
        sessions++;
        if (l.interrupted) interrupted++;
        continue;
      }
      byId.set(l.session, [...(byId.get(l.session) ?? []), l]);
    }
    let unfinished = 0;
    for (const ls of byId.values()) {
      sessions++;
      const start = ls.find((l) => l.event === 'start');
      const end = ls.find((l) => l.event === 'end');
      if (end) {
        if (end.stopped && end.stopped !== 'finished') interrupted++;
        if (typeof end.seconds === 'number') {
          seconds += end.seconds;
          continue;
        }
      } else unfinished++;
      const t0 = start?.at ? Date.parse(start.at) : NaN;
      const t1 = Math.max(...ls.map((l) => (l.at ? Date.parse(l.at) : NaN)).filter(Number.isFinite));
      if (Number.isFinite(t0) && Number.isFinite(t1)) seconds += Math.max(0, (t1 - t0) / 1000);
    }
    return { seconds, sessions, interrupted, unfinished };
  }
}

/** One invocation of a run. */
export class RunSession {
  readonly id: string;
  private readonly t0 = performance.now();
  private ended = false;

  constructor(
    private readonly run: RunFolder,
    info: Record<string, unknown>,
  ) {
    const started = new Date();
    this.id = `${started.toISOString()}-${process.pid}`;
    this.started = started.toISOString();
    run.append('sessions.jsonl', {
      session: this.id,
      event: 'start',
      at: this.started,
      pid: process.pid,
      host: hostname(),
      ...info,
    });
  }

  readonly started: string;

  seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Says the session is still running (so a killed session's wall time ends at its last heartbeat). */
  heartbeat(info: Record<string, unknown> = {}): void {
    if (!this.ended)
      this.run.append('sessions.jsonl', { session: this.id, event: 'alive', at: new Date().toISOString(), ...info });
  }

  end(stopped: 'finished' | 'interrupted' | 'aborted' | 'error', info: Record<string, unknown> = {}): void {
    if (this.ended) return;
    this.ended = true;
    this.run.append('sessions.jsonl', {
      session: this.id,
      event: 'end',
      at: new Date().toISOString(),
      seconds: this.seconds(),
      stopped,
      ...info,
    });
  }
}

/** Appends one line durably; a torn last line (no final newline) is ended first, so the new line stands alone. */
function appendLine(file: string, line: string): void {
  const fd = openSync(file, 'a+');
  try {
    const size = fstatSync(fd).size;
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    writeSync(fd, `${prefix}${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Said of a line that is not a JSON object. */
export const NOT_JSON = 'not valid JSON';

/**
 * The lines of a JSONL file that are valid by `schema` (a run's records, curves, sessions…). A line that is not a JSON
 * object, or not a valid line of the schema, is skipped and passed to `onBadLine` with its 1-based number and why.
 */
export function readJsonl<S extends LineSchema>(
  file: string,
  onBadLine: ((line: number, text: string, reason: string) => void) | undefined,
  schema: S,
): z.output<S>[] {
  if (!existsSync(file)) return [];
  const out: z.output<S>[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (!text.trim()) return;
      let v: unknown;
      try {
        v = JSON.parse(text) as unknown;
      } catch {
        v = undefined;
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return onBadLine?.(i + 1, text, NOT_JSON);
      const r = parseLine(schema, v);
      if (r.ok) out.push(r.value);
      else onBadLine?.(i + 1, text, r.reason);
    });
  return out;
}

/**
 * One line per file: "samples.jsonl: 2 unreadable lines skipped (lines 7, 12; torn by a kill or damaged)", and for
 * lines that are JSON but not valid records "samples.jsonl: 1 invalid record skipped (line 3: best_accuracy: missing)".
 */
export function describeBadLines(bad: readonly BadLine[]): string[] {
  const s = (n: number) => (n > 1 ? 's' : '');
  const list = (xs: number[]) => `${xs.slice(0, 10).join(', ')}${xs.length > 10 ? ', …' : ''}`;
  const byFile = new Map<string, BadLine[]>();
  for (const b of bad) byFile.set(b.file, [...(byFile.get(b.file) ?? []), b]);
  const out: string[] = [];
  for (const [file, lines] of byFile) {
    const torn = lines.filter((b) => (b.reason ?? NOT_JSON) === NOT_JSON).map((b) => b.line);
    const invalid = lines.filter((b) => (b.reason ?? NOT_JSON) !== NOT_JSON);
    if (torn.length > 0)
      out.push(
        `${file}: ${torn.length} unreadable line${s(torn.length)} skipped (line${s(torn.length)} ${list(torn)}; torn by a kill or damaged)`,
      );
    if (invalid.length > 0) {
      const shown = invalid.slice(0, 5).map((b) => `line ${b.line}: ${b.reason}`);
      out.push(
        `${file}: ${invalid.length} invalid record${s(invalid.length)} skipped (${shown.join('; ')}${invalid.length > 5 ? '; …' : ''}; not what this version reads)`,
      );
    }
  }
  return out;
}

/**
 * A run's folder: results/<run>/ with config.yaml, environment.json, samples.jsonl (appended and flushed as each text
 * finishes: the resume log), curves.jsonl, results.csv, vectors/. Reading tolerates a torn last line (kill -9 mid-write).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { toCsv } from './csv.ts';
import { SAMPLE_COLUMNS, type CurveRecord, type SampleRecord } from './sample-record.ts';

export class RunFolder {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /**
   * Finished records; a torn or corrupt line is skipped (that text simply runs again) and reported. Also ends a torn
   * last line, so the next append starts on a line of its own.
   */
  readSamples(onBadLine?: (line: number, text: string) => void): SampleRecord[] {
    for (const f of ['samples.jsonl', 'curves.jsonl']) endTornLine(this.path(f));
    return readJsonl<SampleRecord>(this.path('samples.jsonl'), onBadLine);
  }

  readCurves(): CurveRecord[] {
    return readJsonl<CurveRecord>(this.path('curves.jsonl'));
  }

  appendSample(r: SampleRecord): void {
    appendDurably(this.path('samples.jsonl'), JSON.stringify(r));
  }

  appendCurve(c: CurveRecord): void {
    appendDurably(this.path('curves.jsonl'), JSON.stringify(c));
  }

  /** One line per invocation of the run (a resumed run has several): when, how long, how many texts. */
  appendSession(s: { started: string; seconds: number; texts: number; backend: string; interrupted: boolean }): void {
    appendDurably(this.path('sessions.jsonl'), JSON.stringify(s));
  }

  /** Wall time over all sessions of this run. */
  wallSeconds(): number | undefined {
    const sessions = readJsonl<{ seconds: number }>(this.path('sessions.jsonl'));
    return sessions.length ? sessions.reduce((a, s) => a + s.seconds, 0) : undefined;
  }

  /** Writes a file atomically (temp + rename), so a crash never leaves half a file. */
  writeAtomic(name: string, content: string): void {
    const target = this.path(name);
    writeFileSync(`${target}.tmp`, content);
    renameSync(`${target}.tmp`, target);
  }

  writeResultsCsv(records: SampleRecord[]): void {
    this.writeAtomic('results.csv', toCsv(records, SAMPLE_COLUMNS));
  }
}

/** One line, flushed to disk before returning: a finished text is never lost to a crash. */
function appendDurably(file: string, line: string): void {
  const fd = openSync(file, 'a');
  try {
    writeSync(fd, line + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function endTornLine(file: string): void {
  if (!existsSync(file)) return;
  const buf = readFileSync(file);
  if (buf.length > 0 && buf[buf.length - 1] !== 0x0a) appendDurably(file, '');
}

export function readJsonl<T>(file: string, onBadLine?: (line: number, text: string) => void): T[] {
  if (!existsSync(file)) return [];
  const out: T[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
    if (!text.trim()) return;
    try {
      out.push(JSON.parse(text) as T);
    } catch {
      onBadLine?.(i + 1, text);
    }
  });
  return out;
}


/**
 * `cram status <run>`: how far a run is, per shard (done / planned, last record, running or not), read from the run
 * folder alone while the run goes on (no engine, nothing written). Works for every kind (config.yaml names it) and for
 * single-process runs too (one row).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML from 'yaml';
import { describeBadLines, readJsonl, SessionLineSchema, type BadLine } from '../results/run-folder.ts';
import { experimentKind } from '../experiments/kinds/index.ts';
import { lockHolder } from './run-lock.ts';
import { readShardsFile, shardDir, shardIndices } from './shards.ts';

export type ShardState = 'running' | 'finished' | 'interrupted' | 'aborted' | 'error' | 'killed' | 'not started';

export interface ShardStatus {
  /** Shard index; null for a single-process run (or the sessions before a split). */
  shard: number | null;
  planned: number | null;
  done: number;
  /** When the last record was written (the record file's modification time), ISO; null when none. */
  last_record: string | null;
  state: ShardState;
  /** Running: the process holding the shard's lock and its last heartbeat. */
  holder?: { pid: number; host: string; alive: string; ago: string };
  sessions: number;
}

export interface RunStatus {
  run_dir: string;
  experiment: string;
  shards: number | null;
  planned: number | null;
  done: number;
  complete: boolean | null;
  rows: ShardStatus[];
  /** Lines of the record files that were skipped (torn, or not valid records): their items are not done. */
  bad_lines: string[];
}

function folderState(dir: string): { state: ShardState; sessions: number; holder?: ShardStatus['holder'] } {
  const lines = readJsonl(join(dir, 'sessions.jsonl'), undefined, SessionLineSchema);
  const ids = [...new Set(lines.map((l) => l.session).filter((x): x is string => x !== undefined))];
  const holder = lockHolder(dir);
  const h = holder ? { pid: holder.pid, host: holder.host, alive: holder.alive, ago: holder.ago } : undefined;
  if (holder) return { state: 'running', sessions: ids.length, holder: h };
  if (ids.length === 0) return { state: 'not started', sessions: 0 };
  const last = ids[ids.length - 1];
  const end = lines.find((l) => l.session === last && l.event === 'end');
  return { state: end ? ((end.stopped ?? 'finished') as ShardState) : 'killed', sessions: ids.length };
}

function lastWrite(file: string): string | null {
  return existsSync(file) ? statSync(file).mtime.toISOString() : null;
}

/** The status of the run in `dir`; `planned` for a single-process run comes from `plannedItems` when given. */
export function runStatus(dir: string, plannedItems?: () => number | null): RunStatus {
  if (!existsSync(join(dir, 'config.yaml')) && !existsSync(join(dir, 'shards.json'))) {
    throw new Error(`${dir} holds no run yet (no config.yaml); start it with cram experiment <config> (or its shards)`);
  }
  let name = 'capacity';
  try {
    const c = YAML.parse(readFileSync(join(dir, 'config.yaml'), 'utf8')) as { experiment?: unknown };
    if (typeof c?.experiment === 'string') name = c.experiment;
  } catch {
    /* no or unreadable config: the default kind */
  }
  const kind = experimentKind(name);
  const badLines: BadLine[] = [];
  // Keys of the valid records only: a torn or invalid line is not done (said below, and run again on resume).
  const keysIn = (file: string) =>
    new Set(
      readJsonl(
        file,
        (line, text, reason) => badLines.push({ file: relative(dir, file), line, text, reason }),
        kind.record,
      ).map((r) => kind.recordKey(r)),
    );
  const ownFile = join(dir, kind.recordFile);
  const own = keysIn(ownFile);
  const split = readShardsFile(dir);
  if (!split) {
    const s = folderState(dir);
    const planned = plannedItems?.() ?? null;
    const rows: ShardStatus[] = [{ shard: null, planned, done: own.size, last_record: lastWrite(ownFile), ...s }];
    const all = new Set(own);
    for (const i of shardIndices(dir)) {
      // Shard folders without shards.json: a shard that stopped before the split was recorded (it made no record).
      const file = join(shardDir(dir, i), kind.recordFile);
      const keys = keysIn(file);
      for (const k of keys) all.add(k);
      rows.push({
        shard: i,
        planned: null,
        done: keys.size,
        last_record: lastWrite(file),
        ...folderState(shardDir(dir, i)),
      });
    }
    const done = all.size;
    return {
      run_dir: dir,
      experiment: name,
      shards: null,
      planned,
      done,
      complete: planned === null ? null : done >= planned,
      rows,
      bad_lines: describeBadLines(badLines),
    };
  }
  const all = new Set(own);
  const rows: ShardStatus[] = [];
  if (existsSync(join(dir, 'sessions.jsonl'))) {
    // Sessions of a single process before the run was split: its records count for every shard.
    rows.push({ shard: null, planned: null, done: own.size, last_record: lastWrite(ownFile), ...folderState(dir) });
  }
  split.shards.forEach((s, i) => {
    const file = join(shardDir(dir, i), kind.recordFile);
    const mine = keysIn(file);
    for (const k of mine) all.add(k);
    const done = s.keys.filter((k) => mine.has(k) || own.has(k)).length;
    rows.push({
      shard: i,
      planned: s.keys.length,
      done,
      last_record: lastWrite(file),
      ...folderState(shardDir(dir, i)),
    });
  });
  const planned = split.shards.reduce((a, s) => a + s.keys.length, 0);
  const done = split.shards.reduce((a, s) => a + s.keys.filter((k) => all.has(k)).length, 0);
  return {
    run_dir: dir,
    experiment: name,
    shards: split.count,
    planned,
    done,
    complete: done === planned,
    rows,
    bad_lines: describeBadLines(badLines),
  };
}

function since(iso: string | null, now = Date.now()): string {
  if (!iso) return '–';
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  const t = iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return `${t} (${s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`} ago)`;
}

/** The status as a few lines of text. */
export function formatStatus(st: RunStatus, dirLabel = st.run_dir): string {
  const pct = st.planned ? ` (${((100 * st.done) / st.planned).toFixed(0)} %)` : '';
  const head =
    `${dirLabel}: ${st.experiment}${st.shards ? `, ${st.shards} shard${st.shards > 1 ? 's' : ''}` : ', one process'}; ` +
    `${st.done} of ${st.planned ?? '?'} planned items done${pct}${st.complete ? ', complete' : ''}`;
  const table = [['shard', 'done/planned', 'last record', 'state']];
  for (const r of st.rows) {
    const state =
      r.state === 'running' && r.holder
        ? `running (process ${r.holder.pid} on ${r.holder.host}, heartbeat ${r.holder.ago})`
        : r.state === 'killed'
          ? 'killed or lost (no end recorded, no live lock): run it again to resume'
          : r.state;
    table.push([
      r.shard === null ? (st.shards ? 'before split' : '–') : String(r.shard),
      `${r.done}/${r.planned ?? '?'}`,
      since(r.last_record),
      `${state}, ${r.sessions} session${r.sessions === 1 ? '' : 's'}`,
    ]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  return (
    [
      head,
      ...table.map((row) => `  ${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}`),
      ...st.bad_lines.map((l) => `  ${l}; those items are not done (run again on resume)`),
    ].join('\n') + '\n'
  );
}

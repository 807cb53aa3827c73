/**
 * A run's report from its folder alone: results.csv, the kind's report sections, wall time and sessions over the
 * folder and its shards. It lives with the run machinery, not in src/report/, because it reads which kind made the
 * run (config.yaml) and merges the shards' records (shards.ts); src/report/ knows neither.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import YAML from 'yaml';
import { writeReport, type ReportResult } from '../report/report.ts';
import { describeBadLines, RunFolder, type BadLine, type SessionSummary } from '../results/run-folder.ts';
import { SkippedTextSchema } from '../experiments/kind.ts';
import { columnsOf } from '../results/record-schema.ts';
import { experimentKind } from '../experiments/kinds/index.ts';
import { readMergedJsonl, readMergedRecords, shardDir, shardIndices } from './shards.ts';

/**
 * (Re)writes a run's results.csv and report from its folder alone (config.yaml says the kind; capacity when absent).
 * Returns null when the run has no finished record yet. Unreadable record lines are skipped, counted and reported.
 */
export async function writeRunReport(
  dir: string,
  opts: { log?: (s: string) => void; requireRecords?: boolean } = {},
): Promise<(ReportResult & { badLines: BadLine[] }) | null> {
  const run = new RunFolder(dir);
  const read = (name: string) => (existsSync(run.path(name)) ? readFileSync(run.path(name), 'utf8') : null);
  const configText = read('config.yaml');
  let config: Record<string, unknown> | undefined;
  try {
    config = configText ? (YAML.parse(configText) as Record<string, unknown>) : undefined;
  } catch {
    config = undefined;
  }
  const kind = experimentKind(typeof config?.experiment === 'string' ? config.experiment : 'capacity');
  const badLines: BadLine[] = [];
  // The folder's own records and every shard's (shards.ts), the first record of each key kept.
  const { records, duplicates } = readMergedRecords(
    dir,
    kind.recordFile,
    kind.record,
    (r) => kind.recordKey(r),
    (b) => badLines.push(b),
  );
  for (const note of describeBadLines(badLines)) opts.log?.(note);
  const duplicateNote =
    duplicates > 0
      ? `${kind.recordFile}: ${duplicates} record${duplicates > 1 ? 's' : ''} with a key already recorded (the same item run twice) left out; the first of each key is kept`
      : null;
  if (duplicateNote) opts.log?.(duplicateNote);
  if (records.length === 0) {
    if (opts.requireRecords)
      throw new Error(`${dir} has no finished records yet (${kind.recordFile} is empty or missing)`);
    return null;
  }
  // The CSV's columns are the record schema's keys, in order.
  run.writeCsv('results.csv', records as Record<string, unknown>[], columnsOf(kind.record));
  const skipped = run.readJsonl('skipped.jsonl', (b) => badLines.push(b), SkippedTextSchema);
  const content = kind.report({
    records,
    readJsonl: (f, schema) => readMergedJsonl(dir, f, schema, (b) => badLines.push(b)),
    skipped,
    badLines,
  });
  if (duplicateNote) content.notes = [...(content.notes ?? []), `${duplicateNote}.`];
  const parseJson = (text: string | null): object | undefined => {
    try {
      return text ? JSON.parse(text) : undefined;
    } catch {
      return undefined;
    }
  };
  const shards = shardIndices(dir);
  let environment = parseJson(read('environment.json'));
  const describe = (s: SessionSummary) =>
    `${s.sessions} session${s.sessions > 1 ? 's' : ''}${s.interrupted ? `, ${s.interrupted} stopped by a signal` : ''}${s.unfinished ? `, ${s.unfinished} killed or still running (counted up to the last heartbeat)` : ''}`;
  const s = run.sessions();
  let wallSeconds = s?.seconds;
  let sessions = s ? describe(s) : undefined;
  if (shards.length > 0) {
    // Shards run side by side: the run's wall time is the longest shard's (after any single-process sessions before the split).
    const per = shards.map((i) => ({
      i,
      s: new RunFolder(shardDir(dir, i)).sessions(),
      env: parseJson(read(join('shards', String(i), 'environment.json'))),
    }));
    const times = per.map((p) => p.s?.seconds ?? 0);
    const all: SessionSummary = per.reduce<SessionSummary>(
      (a, p) => ({
        seconds: a.seconds + (p.s?.seconds ?? 0),
        sessions: a.sessions + (p.s?.sessions ?? 0),
        interrupted: a.interrupted + (p.s?.interrupted ?? 0),
        unfinished: a.unfinished + (p.s?.unfinished ?? 0),
      }),
      { seconds: 0, sessions: 0, interrupted: 0, unfinished: 0 },
    );
    wallSeconds = (s?.seconds ?? 0) + Math.max(...times);
    sessions =
      `${shards.length} shards side by side (the longest shard's time${s ? ' after the sessions before the split' : ''}): ${describe(all)}; ` +
      `${all.seconds.toFixed(0)} s over all shards, per shard ${times.map((t) => t.toFixed(0)).join(' / ')} s${s ? `; before the split ${describe(s)}` : ''}`;
    environment ??= per.find((p) => p.env)?.env;
    const pick = (e: object | undefined) => {
      const x = (e ?? {}) as Record<string, unknown>;
      return { host: x.host, backend: x.backend, cpus: x.cpus, started: x.started };
    };
    environment = { ...environment, shards: per.map((p) => ({ shard: p.i, ...pick(p.env) })) };
  }
  const report = await writeReport(dir, content, {
    title: `Run ${basename(dir)}`,
    config,
    environment,
    wallSeconds,
    sessions,
  });
  return { ...report, badLines };
}

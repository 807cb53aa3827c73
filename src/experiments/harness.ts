/**
 * The run harness, written once for every experiment kind (kinds/<kind>.ts says what is planned, recorded and
 * reported). A run:
 *   1. validates and plans everything (prepare.ts) — nothing is written if anything is wrong;
 *   2. takes the run folder's lock (one writer per run), checks that a folder from an earlier session holds the same
 *      experiment, writes the resolved config.yaml;
 *   3. records the session (a start line, heartbeats, an end line: killed sessions count in the wall time too);
 *   4. starts the engine and does, per model, the planned items whose records are not in the record file yet
 *      (resume by record key: kill -9 at any moment loses nothing finished and repeats nothing);
 *   5. stops after the current step on the first Ctrl-C / SIGTERM, at once on a second;
 *   6. writes results.csv and the report.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import YAML from 'yaml';
import { parseConfig } from '../config/load-config.ts';
import type { ExperimentConfig } from '../config/schema.ts';
import { PROJECT_ROOT } from '../paths.ts';
import { writeReport, type ReportResult } from '../report/report.ts';
import { describeEnvironment } from '../results/environment.ts';
import { describeBadLines, RunFolder, type BadLine, type RunSession } from '../results/run-folder.ts';
import type { RunContext, SkippedText } from './kind.ts';
import { experimentKind } from './kinds/index.ts';
import type { ModelSession } from './model-session.ts';
import { prepareExperiment } from './prepare.ts';
import { RunProgress } from './progress.ts';
import { RunLock } from './run-lock.ts';
import { StopSignals } from './stop.ts';

export const DEFAULT_CONFIG = join(PROJECT_ROOT, 'configs', 'quick.yaml');
const HEARTBEAT_MS = 10_000;

export interface RunOptions {
  quiet?: boolean;
  /** Stop after this many records in this session (tests). */
  stopAfter?: number;
  /** Install the SIGINT/SIGTERM handlers (default true). */
  signals?: boolean;
}

export interface ExperimentResult<Rec extends object = object> {
  runDir: string;
  records: Rec[];
  ranNow: number;
  interrupted: boolean;
}

/** Fields that decide the results: a folder made with other values cannot be resumed. */
function identity(c: ExperimentConfig): Record<string, unknown> {
  const { backend: _b, batch: _ba, output_dir: _o, description: _d, ...rest } = c;
  return rest;
}

function checkResumable(run: RunFolder, config: ExperimentConfig, hasRecords: boolean, log: (s: string) => void): void {
  const file = run.path('config.yaml');
  if (!existsSync(file)) return;
  let previous: ExperimentConfig | null = null;
  let why = '';
  try {
    previous = parseConfig(YAML.parse(readFileSync(file, 'utf8')), file);
  } catch (e) {
    why = `its config.yaml is not a valid config now (${(e as Error).message})`;
  }
  if (previous) {
    const a = identity(previous);
    const b = identity(config);
    const differing = Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    if (differing.length === 0) return;
    why = `it was made with a different ${differing.join(', ')}`;
  }
  if (!hasRecords) {
    log(`${run.dir}: ${why}, but it holds no finished record yet; starting it over with this config`);
    return;
  }
  throw new Error(`${run.dir} holds a run, but ${why}; give this config another name (or move that folder away) so no finished result is mixed up or lost`);
}

export async function runExperiment<Rec extends object = object>(configPath: string, opts: RunOptions = {}): Promise<ExperimentResult<Rec>> {
  const log = (s: string) => { if (!opts.quiet) process.stderr.write(`${s}\n`); };
  const prepared = prepareExperiment(configPath, { quiet: opts.quiet });
  const { config, kind } = prepared;
  for (const m of prepared.models) {
    const skipped = m.skipped.length;
    if (skipped > 0) {
      const lengths = [...new Set(m.skipped.map((s) => s.length))].sort((a, b) => a - b);
      log(`${m.info.name}: ${skipped} text(s) shorter than a length are not samples there and are left out (L = ${lengths.join(', ')}; listed in skipped.jsonl and the report)`);
    }
  }

  // The backend and the models' memory needs are checked before the run folder exists (issue: known limits fail early).
  const engine = await import('./model-session.ts');
  const backend = await engine.startEngine(config.backend);
  for (const m of prepared.models) {
    const longest = Math.max(0, ...m.items.map((it) => it.positions));
    await engine.checkModelsFit([m.info], backend.name, {
      maxTokens: longest, batchTokens: Math.max(longest, Math.min(config.batch.max_tokens, config.batch.max_texts * longest)),
      tokensFrom: `the planned work (up to ${longest} positions per text)`,
    });
  }

  const run = new RunFolder(prepared.runDir).create();
  const lock = RunLock.acquire(run.dir, `cram experiment ${relative(process.cwd(), resolve(configPath)) || configPath}`, log);
  let session: RunSession | null = null;
  let stop: StopSignals | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let ranNow = 0;
  let stopped = false;
  try {
    const badLines: BadLine[] = [];
    const finished = run.readJsonl<object>(kind.recordFile, (b) => badLines.push(b));
    for (const note of describeBadLines(badLines)) log(`${note}; those texts run again`);
    checkResumable(run, config, finished.length > 0, log);
    run.writeAtomic('config.yaml', YAML.stringify(config));
    run.writeAtomic('skipped.jsonl', prepared.models.flatMap((m) => m.skipped).map((s) => JSON.stringify(s) + '\n').join(''));
    const done = new Set(finished.map((r) => kind.recordKey(r)));

    session = run.startSession({ config_file: relative(process.cwd(), resolve(configPath)) });
    const activeSession = session;
    // Heartbeats (also on a finished record, at most once a second): a killed session's wall time ends at the last one.
    let lastBeat = Date.now();
    const beat = (force: boolean) => {
      if (!force && Date.now() - lastBeat < 1000) return;
      lastBeat = Date.now();
      activeSession.heartbeat({ records: ranNow });
      lock.refresh();
    };
    heartbeat = setInterval(() => beat(true), HEARTBEAT_MS);
    heartbeat.unref();
    if (opts.signals !== false) {
      stop = new StopSignals(log, () => { activeSession.end('aborted', { records: ranNow }); lock.release(); }).install();
    }
    const shouldStop = () => (stop?.stopRequested ?? false) || (opts.stopAfter !== undefined && ranNow >= opts.stopAfter);

    const environment = { ...describeEnvironment(backend), config_file: relative(process.cwd(), resolve(configPath)), started: session.started };
    run.writeAtomic('environment.json', JSON.stringify(environment, null, 2) + '\n');
    log(`run ${config.name} (${kind.name}) → ${run.dir} (backend ${backend.name}: ${backend.detail})`);

    for (const m of prepared.models) {
      if (shouldStop()) break;
      const todo = m.items.filter((it) => !done.has(it.key));
      log(`${m.info.name}: ${m.items.length} planned, ${m.items.length - todo.length} already done, ${todo.length} to run`);
      if (todo.length === 0) continue;
      const model: ModelSession = await engine.openModel(m.info.dir);
      const progress = new RunProgress(m.items.length, m.items.length - todo.length, opts.quiet);
      let doneHere = 0;
      const ctx: RunContext<object> = {
        config, session: model, shouldStop,
        record: (r) => {
          run.append(kind.recordFile, r);
          done.add(kind.recordKey(r));
          ranNow++;
          doneHere++;
          beat(false);
        },
        append: (file, line) => run.append(file, line),
        file: (rel) => {
          const p = run.path(rel);
          mkdirSync(dirname(p), { recursive: true });
          return p;
        },
        progress: (p) => progress.update({ done: m.items.length - todo.length + doneHere, total: m.items.length, ...p }),
      };
      try {
        await kind.run(ctx, todo);
      } finally {
        progress.stop();
        model.dispose();
      }
    }
    stopped = shouldStop();
    session.end(stopped ? 'interrupted' : 'finished', { records: ranNow, backend: backend.name });
    const report = await writeRunReport(run.dir, { log });
    if (report) log(`report: ${relative(process.cwd(), report.markdown)} and ${relative(process.cwd(), report.html)}`);
  } catch (e) {
    session?.end('error', { records: ranNow, error: (e as Error).message.slice(0, 500) });
    throw e;
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    stop?.uninstall();
    lock.release();
  }
  const records = run.readJsonl<Rec>(kind.recordFile);
  log(`${ranNow} record(s) made in this session${stopped ? ' (stopped early: run the same command to resume)' : ''}; ${records.length} in ${relative(process.cwd(), run.path('results.csv'))}`);
  return { runDir: run.dir, records, ranNow, interrupted: stopped };
}

/**
 * (Re)writes a run's results.csv and report from its folder alone (config.yaml says the kind; capacity when absent).
 * Returns null when the run has no finished record yet. Unreadable record lines are skipped, counted and reported.
 */
export async function writeRunReport(dir: string, opts: { log?: (s: string) => void; requireRecords?: boolean } = {}): Promise<(ReportResult & { badLines: BadLine[] }) | null> {
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
  const records = run.readJsonl<object>(kind.recordFile, (b) => badLines.push(b));
  for (const note of describeBadLines(badLines)) opts.log?.(note);
  if (records.length === 0) {
    if (opts.requireRecords) throw new Error(`${dir} has no finished records yet (${kind.recordFile} is empty or missing)`);
    return null;
  }
  run.writeCsv('results.csv', records as Record<string, unknown>[], kind.recordColumns);
  const skipped = run.readJsonl<SkippedText>('skipped.jsonl');
  const content = kind.report({ records, readJsonl: (f) => run.readJsonl(f, (b) => badLines.push(b)), skipped, badLines });
  const envText = read('environment.json');
  let environment: object | undefined;
  try {
    environment = envText ? JSON.parse(envText) : undefined;
  } catch {
    environment = undefined;
  }
  const s = run.sessions();
  const report = await writeReport(dir, content, {
    title: `Run ${basename(dir)}`, config, environment, wallSeconds: s?.seconds,
    sessions: s ? `${s.sessions} session${s.sessions > 1 ? 's' : ''}${s.interrupted ? `, ${s.interrupted} stopped by a signal` : ''}${s.unfinished ? `, ${s.unfinished} killed or still running (counted up to the last heartbeat)` : ''}` : undefined,
  });
  return { ...report, badLines };
}

/**
 * The run harness, written once for every experiment kind (kinds/<kind>/ says what is planned, recorded and
 * reported). A run:
 *   1. validates and plans everything (prepare.ts) — nothing is written if anything is wrong;
 *   2. takes the run folder's lock (one writer per run), checks that a folder from an earlier session holds the same
 *      experiment, writes the resolved config.yaml;
 *   3. records the session (a start line, heartbeats, an end line: killed sessions count in the wall time too);
 *   4. starts the backend and does, per model, the planned items whose records are not in the record file yet
 *      (resume by record key: kill -9 at any moment loses nothing finished and repeats nothing);
 *   5. stops after the current step on the first Ctrl-C / SIGTERM, at once on a second;
 *   6. writes results.csv and the report.
 * As one shard of N (shards.ts: `--shard i/n`, a SLURM array task, a Kubernetes indexed job) it does only its share
 * of the planned items, writes only under shards/<i>/ (records, sessions, lock), and the last shard to finish writes
 * the merged report.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import YAML from 'yaml';
import type { ExperimentConfig } from '../config/schema.ts';
import { PROJECT_ROOT } from '../paths/index.ts';
import { describeEnvironment } from '../results/environment.ts';
import { describeBadLines, RunFolder, type BadLine, type RunSession } from '../results/run-folder.ts';
import type { RunContext } from '../experiments/kind.ts';
import { parseExperimentConfig } from '../experiments/kinds/index.ts';
import type { ModelSession } from './model-session.ts';
import { prepareExperiment } from './prepare.ts';
import { RunProgress } from './progress.ts';
import { lockHolder, RunLock } from './run-lock.ts';
import {
  checkPlanMatches,
  COST_ESTIMATE,
  planSha256,
  readMergedJsonl,
  readMergedRecords,
  readShardsFile,
  recordShards,
  resolveShard,
  SHARDS_FILE,
  shardDir,
  ShardError,
  shardIndices,
  splitPlan,
  type ShardChoice,
  type ShardRequest,
} from './shards.ts';
import { writeRunReport } from './run-report.ts';
import { StopSignals } from './stop.ts';

export const DEFAULT_CONFIG = join(PROJECT_ROOT, 'configs', 'quick.yaml');
const HEARTBEAT_MS = 10_000;

export interface RunOptions {
  quiet?: boolean;
  /** Stop after this many records in this session (tests). */
  stopAfter?: number;
  /** Install the SIGINT/SIGTERM handlers (default true). */
  signals?: boolean;
  /** Run as one shard of several (shards.ts); a request without a count takes the config's `shards`. */
  shard?: ShardRequest;
}

export interface ExperimentResult<Rec extends object = object> {
  runDir: string;
  records: Rec[];
  ranNow: number;
  interrupted: boolean;
  /** As a shard: which one; `records` are then this shard's own. */
  shard?: ShardChoice;
  /** As a shard: every planned item of every shard has its record (this shard wrote the merged report). */
  complete?: boolean;
}

/** Fields that decide the results: a folder made with other values cannot be resumed. */
function identity(c: ExperimentConfig): Record<string, unknown> {
  const { backend: _b, batch: _ba, output_dir: _o, description: _d, shards: _s, ...rest } = c;
  return rest;
}

function checkResumable(run: RunFolder, config: ExperimentConfig, hasRecords: boolean, log: (s: string) => void): void {
  const file = run.path('config.yaml');
  if (!existsSync(file)) return;
  let previous: ExperimentConfig | null = null;
  let why = '';
  try {
    previous = parseExperimentConfig(YAML.parse(readFileSync(file, 'utf8')), file);
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
  throw new Error(
    `${run.dir} holds a run, but ${why}; give this config another name (or move that folder away) so no finished result is mixed up or lost`,
  );
}

export async function runExperiment<Rec extends object = object>(
  configPath: string,
  opts: RunOptions = {},
): Promise<ExperimentResult<Rec>> {
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`${s}\n`);
  };
  const prepared = prepareExperiment(configPath, { quiet: opts.quiet });
  const { config, kind } = prepared;
  for (const m of prepared.models) {
    const skipped = m.skipped.length;
    if (skipped > 0) {
      const lengths = [...new Set(m.skipped.map((s) => s.length))].sort((a, b) => a - b);
      log(
        `${m.info.name}: ${skipped} text(s) shorter than a length are not samples there and are left out (L = ${lengths.join(', ')}; listed in skipped.jsonl and the report)`,
      );
    }
  }

  // As a shard: the index from the request and what the folder recorded (checked before anything is written); this
  // process then writes only under shards/<i>/ and holds that folder's lock (no lock is shared between hosts).
  const shardReq = opts.shard ? withConfigCount(opts.shard, config.shards) : undefined;
  const choice: (ShardChoice & { slurmArrayMin?: number; note?: string }) | null = shardReq
    ? resolveShard(shardReq, readShardsFile(prepared.runDir), prepared.runDir)
    : null;

  // The backend and the models' memory needs are checked before the run folder exists.
  const sessions = await import('./model-session.ts');
  const backend = await sessions.startBackend(config.backend, config.precision);
  for (const m of prepared.models) {
    const longest = Math.max(0, ...m.items.map((it) => it.positions));
    await sessions.checkModelsFit([m.info], backend.name, {
      maxTokens: longest,
      batchTokens: Math.max(longest, Math.min(config.batch.max_tokens, config.batch.max_texts * longest)),
      tokensFrom: `the planned work (up to ${longest} positions per text)`,
      precision: config.precision,
    });
  }

  const run = new RunFolder(prepared.runDir).create();
  const command = `cram experiment ${relative(process.cwd(), resolve(configPath)) || configPath}`;
  const own = choice ? new RunFolder(shardDir(run.dir, choice.index)).create() : run;
  const lock = RunLock.acquire(own.dir, choice ? `${command} --shard ${choice.index}/${choice.count}` : command, log);
  let session: RunSession | null = null;
  let stop: StopSignals | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let ranNow = 0;
  let stopped = false;
  let complete: boolean | undefined;
  try {
    // A single process on a folder split into shards would run every shard's items (checked after taking the lock, so
    // a shard starting now sees the lock, or this process sees the shard's files).
    if (!choice && (existsSync(run.path(SHARDS_FILE)) || shardIndices(run.dir).length > 0)) {
      const n = readShardsFile(run.dir)?.count;
      throw new ShardError(
        `${run.dir} is split into ${n ?? 'several'} shards (${SHARDS_FILE}, shards/): run each with --shard i/${n ?? 'n'} ` +
          `(or as a SLURM array or indexed job), see their progress with cram status ${relative(process.cwd(), run.dir) || run.dir}, and merge them with cram report`,
      );
    }
    const badLines: BadLine[] = [];
    // Done: this folder's records; a shard also counts the run folder's own (a single-process session before the split).
    // Valid records only: a torn line, or JSON that is not a valid record, does not count as done (its item runs again).
    const finished = [
      ...(choice ? run.readJsonl(kind.recordFile, (b) => badLines.push(b), kind.record) : []),
      ...own.readJsonl(
        kind.recordFile,
        (b) => badLines.push({ ...b, file: choice ? relative(run.dir, own.path(b.file)) : b.file }),
        kind.record,
      ),
    ];
    for (const note of describeBadLines(badLines)) log(`${note}; those items run again`);
    const anyRecords =
      finished.length > 0 || (choice !== null && readMergedJsonl(run.dir, kind.recordFile, kind.record).length > 0);
    checkResumable(run, config, anyRecords, log);

    let keys: Set<string> | null = null;
    if (choice) {
      const models = prepared.models.map((m) => ({ name: m.info.name, items: m.items }));
      const c = choice;
      const { file, created } = recordShards(run.dir, () => {
        const shards = splitPlan(models, c.count, config.max_steps);
        return {
          count: c.count,
          planned: shards.reduce((a, x) => a + x.items, 0),
          plan_sha256: planSha256(models),
          cost_estimate: COST_ESTIMATE,
          created: new Date().toISOString(),
          created_by: c.how,
          ...(c.slurmArrayMin !== undefined ? { slurm_array_min: c.slurmArrayMin } : {}),
          shards,
        };
      });
      if (!created) {
        // Another task may have planned the split between our first look and now: it must agree with this request.
        const again = resolveShard(shardReq!, file, run.dir);
        if (again.index !== c.index)
          throw new ShardError(
            `another task split ${run.dir} at the same moment (${file.created_by}), and by that split this task is shard ${again.index}, not ${c.index}; run this task again`,
          );
      }
      checkPlanMatches(file, models, run.dir);
      const holder = lockHolder(run.dir);
      if (holder)
        throw new ShardError(
          `${run.dir} is being run as one process (${holder.pid} on ${holder.host}: ${holder.command}); stop it before running the run as shards, so that no item is run twice`,
        );
      keys = new Set(file.shards[c.index].keys);
      if (c.note) log(c.note);
      log(
        `shard ${c.index} of ${c.count} (${c.how}${created ? `; split planned now: ${relative(process.cwd(), run.path(SHARDS_FILE))}` : ''}): ${keys.size} of ${file.planned} items`,
      );
    }
    const skippedLines = prepared.models
      .flatMap((m) => m.skipped)
      .map((s) => JSON.stringify(s) + '\n')
      .join('');
    if (choice) {
      writeShared(run, 'config.yaml', YAML.stringify(config));
      writeShared(run, 'skipped.jsonl', skippedLines);
    } else {
      run.writeAtomic('config.yaml', YAML.stringify(config));
      run.writeAtomic('skipped.jsonl', skippedLines);
    }
    const done = new Set(finished.map((r) => kind.recordKey(r)));

    session = own.startSession({
      config_file: relative(process.cwd(), resolve(configPath)),
      ...(choice ? { shard: choice.index, shards: choice.count, shard_from: choice.how } : {}),
    });
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
      stop = new StopSignals(log, () => {
        activeSession.end('aborted', { records: ranNow });
        lock.release();
      }).install();
    }
    const shouldStop = () =>
      (stop?.stopRequested ?? false) || (opts.stopAfter !== undefined && ranNow >= opts.stopAfter);

    const environment = {
      ...describeEnvironment(backend),
      config_file: relative(process.cwd(), resolve(configPath)),
      started: session.started,
      ...(choice ? { host: hostname(), shard: choice.index, shards: choice.count } : {}),
    };
    own.writeAtomic('environment.json', JSON.stringify(environment, null, 2) + '\n');
    log(`run ${config.name} (${kind.name}) → ${own.dir} (backend ${backend.name}: ${backend.detail})`);

    for (const m of prepared.models) {
      if (shouldStop()) break;
      const mine = keys ? m.items.filter((it) => keys!.has(it.key)) : m.items;
      const todo = mine.filter((it) => !done.has(it.key));
      log(
        `${m.info.name}: ${mine.length} planned${keys ? ' for this shard' : ''}, ${mine.length - todo.length} already done, ${todo.length} to run`,
      );
      if (todo.length === 0) continue;
      const model: ModelSession = await sessions.openModel(m.info.dir);
      const progress = new RunProgress(mine.length, mine.length - todo.length, opts.quiet);
      let doneHere = 0;
      const ctx: RunContext<object> = {
        config,
        session: model,
        shouldStop,
        record: (r) => {
          own.append(kind.recordFile, { ...r, precision: config.precision }); // every kind's records say it
          done.add(kind.recordKey(r));
          ranNow++;
          doneHere++;
          beat(false);
        },
        append: (file, line) => own.append(file, line),
        file: (rel) => {
          const p = run.path(rel);
          mkdirSync(dirname(p), { recursive: true });
          return p;
        },
        progress: (p) => progress.update({ done: mine.length - todo.length + doneHere, total: mine.length, ...p }),
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
    if (choice) {
      // The last shard to finish (every planned item has a record, in any shard) writes the merged report.
      const planned = prepared.models.flatMap((m) => m.items.map((it) => it.key));
      const have = new Set(
        readMergedRecords(run.dir, kind.recordFile, kind.record, (r) => kind.recordKey(r)).records.map((r) =>
          kind.recordKey(r),
        ),
      );
      const missing = planned.filter((k) => !have.has(k)).length;
      complete = missing === 0;
      if (!complete) {
        log(
          `shard ${choice.index}/${choice.count} ${stopped ? 'stopped' : 'finished its items'}; ${planned.length - missing} of ${planned.length} planned items are done over all shards. ` +
            `The last shard to finish writes the report (or: cram report ${relative(process.cwd(), run.dir) || run.dir}); progress: cram status ${relative(process.cwd(), run.dir) || run.dir}`,
        );
      }
    }
    if (!choice) {
      const report = await writeRunReport(run.dir, { log });
      if (report)
        log(`report: ${relative(process.cwd(), report.markdown)} and ${relative(process.cwd(), report.html)}`);
    } else if (complete) {
      // The records are all there whatever happens now: a report that cannot be written is said, not fatal.
      try {
        const report = await writeRunReport(run.dir, { log });
        if (report)
          log(
            `merged report of all ${choice.count} shards: ${relative(process.cwd(), report.markdown)} and ${relative(process.cwd(), report.html)}`,
          );
      } catch (e) {
        log(
          `every shard is done, but the merged report could not be written (${(e as Error).message}); write it with cram report ${relative(process.cwd(), run.dir) || run.dir}`,
        );
      }
    }
  } catch (e) {
    session?.end('error', { records: ranNow, error: (e as Error).message.slice(0, 500) });
    throw e;
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    stop?.uninstall();
    lock.release();
  }
  const records = own.readJsonl(kind.recordFile, undefined, kind.record) as Rec[];
  log(
    `${ranNow} record(s) made in this session${stopped ? ' (stopped early: run the same command to resume)' : ''}; ${records.length} in ` +
      `${choice ? relative(process.cwd(), own.path(kind.recordFile)) : relative(process.cwd(), run.path('results.csv'))}`,
  );
  return {
    runDir: run.dir,
    records,
    ranNow,
    interrupted: stopped,
    ...(choice ? { shard: { index: choice.index, count: choice.count, how: choice.how }, complete } : {}),
  };
}

/**
 * A file every shard writes with the same content (config.yaml, skipped.jsonl): left alone when it already says that,
 * else written under a temporary name unique to this host and process, then renamed (containers on several hosts
 * often share PIDs, so the PID alone would not keep two shards' temporary files apart).
 */
function writeShared(run: RunFolder, name: string, content: string): void {
  const file = run.path(name);
  try {
    if (readFileSync(file, 'utf8') === content) return;
  } catch {
    /* not there yet */
  }
  const tmp = `${file}.tmp-${hostname()}-${process.pid}`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** A scheduler's request without a count takes the config's `shards`; a flag that says another count is refused. */
function withConfigCount(req: ShardRequest, shards: number | undefined): ShardRequest {
  if (shards === undefined) return req;
  if (req.from === 'flag') {
    if (req.count !== shards)
      throw new ShardError(
        `--shard ${req.index}/${req.count} says ${req.count} shards but the config says shards: ${shards}; make them agree`,
      );
    return req;
  }
  if (req.count !== undefined && req.count !== shards)
    throw new ShardError(`--shards ${req.count} and the config's shards: ${shards} disagree; give one`);
  return { ...req, count: shards };
}

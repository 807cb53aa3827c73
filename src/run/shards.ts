/**
 * One experiment as N cooperating processes (shards): on SLURM job arrays, Kubernetes Indexed Jobs, or by hand
 * (`--shard i/n`). Written once for every experiment kind: what gets split is the kind's planned work items.
 *
 * - **Split.** Deterministic and balanced by expected cost, not contiguous blocks: per model, the items in decreasing
 *   cost (ties in a hashed order of their keys) each go to the shard with the least cost so far (ties: the lowest index). An item's expected
 *   cost is the kind's `cost` when it gives one, else positions × max_steps: its positions (vectors + tokens, what one
 *   forward and backward pass costs) times the steps it may take (which items stop early is not known before the
 *   run). Equal-cost items are dealt round-robin, so every shard also gets an even share of each (length, K) group,
 *   whose real step counts then average out.
 * - **Fixed when first planned.** The first shard to start writes `shards.json` in the run folder (created with
 *   link(2), atomic on NFS too; a shard that loses the race reads the winner's): the count, the planned keys of every
 *   shard and how the count was chosen. Later shards take their keys from that file, never from a new split, and a
 *   shard that asks for another count, or a plan that no longer matches, is refused.
 * - **One writer per file.** Shard i writes only under `shards/<i>/` (its record file, other JSONL files, sessions,
 *   environment.json, its own `.lock`); vectors go to the run folder under per-item names. Nothing relies on a lock
 *   shared between hosts.
 * - **Merge.** Readers (`cram report`, `cram status`, the last shard to finish) read the run folder's own record file
 *   (a single-process session before the split) and every shard's, and drop duplicate keys.
 */
import { createHash } from 'node:crypto';
import { existsSync, linkSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import type { LineSchema } from '../results/record-schema.ts';
import { readJsonl } from '../results/run-folder.ts';
import type { BadLine } from '../results/run-folder.ts';
import type { WorkItem } from '../experiments/kind.ts';

export const SHARDS_FILE = 'shards.json';
export const SHARDS_DIR = 'shards';
/** At most this many shards (a typo such as 1/10000000 must not plan ten million folders). */
export const MAX_SHARDS = 10_000;

/** Where a process's shard comes from, before the run folder is consulted. */
export type ShardRequest =
  | { from: 'flag'; index: number; count: number }
  /** SLURM job array: SLURM_ARRAY_TASK_ID, _MIN, _COUNT; `count` from --shards or the config, when given. */
  | { from: 'slurm'; taskId: number; taskMin: number; taskCount: number; count?: number }
  /** Kubernetes Indexed Job (or any scheduler that hands out an index): JOB_COMPLETION_INDEX; the count from --shards or the config. */
  | { from: 'indexed-job'; index: number; count?: number };

export interface ShardChoice {
  index: number;
  count: number;
  /** How the index was chosen, for the log and the session ("--shard 1/3", "SLURM_ARRAY_TASK_ID=7 of array 5-9"). */
  how: string;
}

/** shards.json: written once, when the run is first planned as shards. */
export interface ShardsFile {
  count: number;
  planned: number;
  /** SHA-256 of the sorted planned keys (every model): the plan the split was made from. */
  plan_sha256: string;
  cost_estimate: string;
  created: string;
  created_by: string;
  /** The array's first task id when the count came from SLURM's environment: later tasks' ids are counted from it. */
  slurm_array_min?: number;
  shards: { items: number; cost: number; keys: string[] }[];
}

export class ShardError extends Error {}

// ---------------------------------------------------------------- where the shard comes from

/** `--shard i/n`: 0-based index i, count n. */
export function parseShardFlag(v: string): { index: number; count: number } {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(v);
  if (!m) throw new ShardError(`--shard takes i/n (0-based shard i of n, e.g. 0/4), got "${v}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS) throw new ShardError(`--shard ${v}: the shard count must be 1…${MAX_SHARDS}`);
  if (index >= count)
    throw new ShardError(
      `--shard ${v}: shards are numbered from 0, so shard ${index} of ${count} does not exist (0…${count - 1})`,
    );
  return { index, count };
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ShardError(`${name}=${v} is not a task index (a non-negative integer)`);
  return n;
}

/**
 * The shard a process is asked for: `--shard i/n` first; else a SLURM array task (SLURM_ARRAY_TASK_ID), else an
 * indexed job (JOB_COMPLETION_INDEX); null when none of these is given (a single-process run). `count` is the count
 * given by --shards or the config's `shards`.
 */
export function shardRequest(flag: string | undefined, env: NodeJS.ProcessEnv, count?: number): ShardRequest | null {
  if (count !== undefined && (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS)) {
    throw new ShardError(`the shard count must be an integer 1…${MAX_SHARDS}, got ${count}`);
  }
  if (flag !== undefined) {
    const f = parseShardFlag(flag);
    if (count !== undefined && count !== f.count)
      throw new ShardError(`--shard ${flag} says ${f.count} shards but the shard count given is ${count}; give one`);
    return { from: 'flag', ...f };
  }
  const taskId = envInt(env, 'SLURM_ARRAY_TASK_ID');
  if (taskId !== undefined) {
    const step = envInt(env, 'SLURM_ARRAY_TASK_STEP') ?? 1;
    if (step !== 1)
      throw new ShardError(
        `this SLURM array steps by ${step} (SLURM_ARRAY_TASK_STEP); submit it as a plain range (--array=0-N) or pass --shard i/n yourself`,
      );
    const taskMin = envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
    const taskCount = envInt(env, 'SLURM_ARRAY_TASK_COUNT');
    if (taskCount === undefined || taskCount < 1)
      throw new ShardError('SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard i/n');
    if (taskCount > MAX_SHARDS) {
      throw new ShardError(
        `SLURM_ARRAY_TASK_COUNT=${taskCount} is above the ${MAX_SHARDS}-shard cap; submit an array of at most ${MAX_SHARDS} tasks`,
      );
    }
    if (taskId < taskMin) {
      throw new ShardError(
        `SLURM_ARRAY_TASK_ID=${taskId} is below the array's first id SLURM_ARRAY_TASK_MIN=${taskMin}: ` +
          'the SLURM environment is inconsistent; pass --shard i/n',
      );
    }
    return { from: 'slurm', taskId, taskMin, taskCount, count };
  }
  const index = envInt(env, 'JOB_COMPLETION_INDEX');
  if (index !== undefined && index >= MAX_SHARDS) {
    throw new ShardError(
      `JOB_COMPLETION_INDEX=${index} is above the ${MAX_SHARDS}-shard cap (indices 0…${MAX_SHARDS - 1})`,
    );
  }
  if (index !== undefined) return { from: 'indexed-job', index, count };
  return null;
}

/**
 * The shard this process takes, given what the run folder recorded (null: nothing yet, this process plans the split).
 * Throws a ShardError saying what to do on any mismatch.
 */
export function resolveShard(
  req: ShardRequest,
  recorded: ShardsFile | null,
  runDir: string,
): ShardChoice & { slurmArrayMin?: number; note?: string } {
  const planned = recorded
    ? `${runDir} was planned as ${recorded.count} shard${recorded.count > 1 ? 's' : ''} (${SHARDS_FILE}, ${recorded.created}, by ${recorded.created_by})`
    : '';
  const fixFor = (n: number) =>
    `Run every task with ${n} shards (cram slurm <config> --tasks ${n}; --shard i/${n}), or give this config another name to split it anew`;
  if (req.from === 'flag') {
    if (recorded && recorded.count !== req.count)
      throw new ShardError(
        `${planned}; this process asks for shard ${req.index} of ${req.count}. ${fixFor(recorded.count)}`,
      );
    return { index: req.index, count: req.count, how: `--shard ${req.index}/${req.count}` };
  }
  if (req.from === 'indexed-job') {
    const count = req.count ?? recorded?.count;
    if (count === undefined)
      throw new ShardError(
        `JOB_COMPLETION_INDEX=${req.index} is set but no shard count is: pass --shards N (the Job's completions) or set shards: N in the config`,
      );
    if (recorded && recorded.count !== count)
      throw new ShardError(`${planned}; this task was given ${count}. ${fixFor(recorded.count)}`);
    if (req.index >= count)
      throw new ShardError(
        `JOB_COMPLETION_INDEX=${req.index} is not a shard of ${count} (0…${count - 1}); the Job's completions and the shard count must agree`,
      );
    return { index: req.index, count, how: `JOB_COMPLETION_INDEX=${req.index} of ${count}` };
  }
  // SLURM. The first plan takes the array as it is (index = task id − the array's first id, count = its task count,
  // or --shards). A task resubmitted alone (sbatch --array=2: SLURM_ARRAY_TASK_COUNT=1, _MIN=2) keeps its shard: ids
  // are counted from the first plan's array start, and the count is the recorded one.
  const arr = `SLURM_ARRAY_TASK_ID=${req.taskId} (array of ${req.taskCount} from ${req.taskMin})`;
  if (!recorded) {
    const count = req.count ?? req.taskCount;
    const index = req.taskId - req.taskMin;
    if (index < 0) throw new ShardError(`${arr}: the task id is below the array's first id; pass --shard i/n`);
    if (req.taskCount > count)
      throw new ShardError(`${arr}: the array has more tasks than the ${count} shards given; make them agree`);
    if (index >= count)
      throw new ShardError(
        `${arr}: task ${index} of the array is not a shard of ${count}; submit --array=0-${count - 1}`,
      );
    return { index, count, how: `${arr} → shard ${index}/${count}`, slurmArrayMin: req.taskMin };
  }
  if (req.count !== undefined && req.count !== recorded.count)
    throw new ShardError(`${planned}; this task was given ${req.count}. ${fixFor(recorded.count)}`);
  if (req.taskCount > recorded.count)
    throw new ShardError(`${planned}, but this array has ${req.taskCount} tasks (${arr}). ${fixFor(recorded.count)}`);
  const base = recorded.slurm_array_min ?? 0;
  const index = req.taskId - base;
  if (index < 0 || index >= recorded.count) {
    throw new ShardError(
      `${planned}: SLURM array task ids ${base}…${base + recorded.count - 1} are its shards, and ${req.taskId} is not one. Resubmit a missing shard with sbatch --array=<its id> <script>`,
    );
  }
  const note =
    req.taskCount < recorded.count
      ? `${arr} is part of an array resubmitted alone: it takes shard ${index} of the ${recorded.count} planned`
      : undefined;
  return { index, count: recorded.count, how: `${arr} → shard ${index}/${recorded.count}`, note };
}

// ---------------------------------------------------------------- the split

export interface SplitModel {
  name: string;
  items: readonly WorkItem[];
}

/** An item's expected cost: the kind's estimate, else positions × max_steps. */
export function expectedCost(item: WorkItem, maxSteps: number): number {
  return item.cost !== undefined && Number.isFinite(item.cost) && item.cost >= 0
    ? item.cost
    : item.positions * maxSteps;
}

export const COST_ESTIMATE = "the kind's cost when it gives one, else positions (vectors + tokens) × max_steps";

/** Splits the planned items of every model over `count` shards (greedy by decreasing cost, least-loaded shard first). */
export function splitPlan(models: readonly SplitModel[], count: number, maxSteps: number): ShardsFile['shards'] {
  const shards = Array.from({ length: count }, () => ({ items: 0, cost: 0, keys: [] as string[] }));
  for (const m of models) {
    // Equal costs in a hashed order of their keys: dealt round-robin in key order, text i of every (length, K) group
    // would land on the same shard, and a hard text would weigh on one shard only.
    const items = m.items
      .map((it) => ({ key: it.key, cost: expectedCost(it, maxSteps), h: fnv1a(it.key) }))
      .sort((a, b) => b.cost - a.cost || a.h - b.h || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const it of items) {
      let best = 0;
      for (let s = 1; s < count; s++) if (shards[s].cost < shards[best].cost) best = s;
      shards[best].keys.push(it.key);
      shards[best].items++;
      shards[best].cost += it.cost;
    }
  }
  return shards;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: a fixed, portable order for equal-cost items. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function planSha256(models: readonly SplitModel[]): string {
  const keys = models.flatMap((m) => m.items.map((i) => i.key)).sort();
  return createHash('sha256').update(keys.join('\n')).digest('hex');
}

// ---------------------------------------------------------------- shards.json

function checkShardsFile(v: unknown, file: string): ShardsFile {
  const bad = (why: string): never => {
    throw new ShardError(
      `${file} is damaged (${why}); it fixes which shard runs which item, so restore it (or, if no shard has a record yet, delete it to split the run anew)`,
    );
  };
  if (v === null || typeof v !== 'object') bad('not a JSON object');
  const f = v as ShardsFile;
  if (!Number.isInteger(f.count) || f.count < 1 || f.count > MAX_SHARDS) bad('no valid count');
  if (!Array.isArray(f.shards) || f.shards.length !== f.count) bad(`not ${f.count} shard lists`);
  for (const s of f.shards)
    if (!s || !Array.isArray(s.keys) || s.keys.some((k) => typeof k !== 'string'))
      bad('a shard without its list of keys');
  if (typeof f.plan_sha256 !== 'string') bad('no plan_sha256');
  return f;
}

export function readShardsFile(runDir: string): ShardsFile | null {
  const file = join(runDir, SHARDS_FILE);
  if (!existsSync(file)) return null;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ShardError(
      `${file} is damaged (not JSON: ${(e as Error).message.split('\n')[0]}); it fixes which shard runs which item, so restore it (or, if no shard has a record yet, delete it to split the run anew)`,
    );
  }
  return checkShardsFile(v, file);
}

/**
 * shards.json as recorded, or written now (atomically, create-if-absent: link(2) of a complete temporary file, which
 * NFS does atomically too). When another shard wrote it first, that one is returned.
 */
export function recordShards(runDir: string, make: () => ShardsFile): { file: ShardsFile; created: boolean } {
  const existing = readShardsFile(runDir);
  if (existing) return { file: existing, created: false };
  const target = join(runDir, SHARDS_FILE);
  const tmp = `${target}.tmp-${hostname()}-${process.pid}`;
  const content = make();
  writeFileSync(tmp, JSON.stringify(content) + '\n');
  try {
    linkSync(tmp, target);
    return { file: content, created: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return { file: readShardsFile(runDir)!, created: false };
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Refuses a recorded split whose plan is not this one (the config's texts or the planning code changed since). */
export function checkPlanMatches(recorded: ShardsFile, models: readonly SplitModel[], runDir: string): void {
  if (recorded.plan_sha256 === planSha256(models)) return;
  const now = new Set(models.flatMap((m) => m.items.map((i) => i.key)));
  const then = new Set(recorded.shards.flatMap((s) => s.keys));
  const added = [...now].filter((k) => !then.has(k));
  const gone = [...then].filter((k) => !now.has(k));
  const example = added.length
    ? `e.g. ${added[0]} is new`
    : gone.length
      ? `e.g. ${gone[0]} is no longer planned`
      : 'the same keys in another order';
  throw new ShardError(
    `${runDir} was split into ${recorded.count} shards for a plan of ${then.size} items, and this plan has ${now.size} (${example}): ` +
      "the config's texts or the planning changed since. Finish the run with what planned it, or give this config another name",
  );
}

// ---------------------------------------------------------------- reading every shard

export const shardDir = (runDir: string, index: number) => join(runDir, SHARDS_DIR, String(index));

/** Shard folders present under the run folder, by index. */
export function shardIndices(runDir: string): number[] {
  const dir = join(runDir, SHARDS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => /^\d+$/.test(n) && statSync(join(dir, n)).isDirectory())
    .map(Number)
    .sort((a, b) => a - b);
}

/** Paths of a run file as the run folder and every shard hold it: the folder's own first, then shards in order. */
export function runFileCopies(runDir: string, name: string): { path: string; label: string }[] {
  return [
    { path: join(runDir, name), label: name },
    ...shardIndices(runDir).map((i) => ({
      path: join(shardDir(runDir, i), name),
      label: `${SHARDS_DIR}/${i}/${name}`,
    })),
  ];
}

/**
 * Every line of a JSONL file over the run folder and its shards that is valid by `schema` (the others skipped and
 * passed on, with the reason).
 */
export function readMergedJsonl<S extends LineSchema>(
  runDir: string,
  name: string,
  schema: S,
  onBadLine?: (b: BadLine) => void,
): z.output<S>[] {
  return runFileCopies(runDir, name).flatMap((c) =>
    readJsonl(c.path, (line, text, reason) => onBadLine?.({ file: c.label, line, text, reason }), schema),
  );
}

/** The valid records of every shard (and of the folder itself), first of each key kept; `duplicates` counts the others. */
export function readMergedRecords<R extends object>(
  runDir: string,
  recordFile: string,
  schema: z.ZodType<R>,
  key: (r: R) => string,
  onBadLine?: (b: BadLine) => void,
): { records: R[]; duplicates: number } {
  const seen = new Set<string>();
  const records: R[] = [];
  let duplicates = 0;
  for (const r of readMergedJsonl(runDir, recordFile, schema, onBadLine) as R[]) {
    const k = key(r);
    if (seen.has(k)) {
      duplicates++;
      continue;
    }
    seen.add(k);
    records.push(r);
  }
  return { records, duplicates };
}

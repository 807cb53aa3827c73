/**
 * The one continuous-batching loop every optimisation method runs on. Many problems (a text, or a group of texts that
 * share a vector) are optimised in one forward/backward pass; a problem that finishes leaves the batch and the next
 * queued one of the same shape takes its place.
 *
 * - Lanes: rows of one pass share a shape (the number of vectors K), so jobs are grouped by `method.lane`; lanes open
 *   in order of first appearance, and when the open lanes run low on texts (at most a quarter of `maxBatch` left) the
 *   next lane opens and steps alternately with them (at most two at a time).
 * - Admission: a lane admits queued jobs while it holds at most `maxBatch` texts and (longest row) × texts stays within
 *   `maxBatchTokens` positions; an empty lane always admits one job (a job larger than the budget runs alone). A method
 *   whose rows grow while they run (`chunkPositions`) is admitted by texts only, and each of its steps is cut into
 *   chunks within the token budget instead (same results, smaller passes).
 * - Each step: `method.step` on the lane's rows (or each chunk), then every row that `method.finished` says is done
 *   leaves, and its outcomes go to `hooks.onFinish` in row order.
 * - Between steps: `hooks.admit` (more jobs, queued into their lane, or a new one, by the same rules as the first
 *   ones: a running lane takes them at its next step), `hooks.shouldStop` (true: return at once, unfinished jobs give
 *   nothing), `hooks.onStep` progress, and a yield to the event loop every 8 steps so progress output and signals get
 *   through. With `admit`, the loop ends only when no job is left and `admit` gives none.
 *
 * A new method is an object of this interface (see cram.ts, progressive.ts, one-step.ts); best.ts holds the rules for
 * the vectors it keeps and when it stops.
 */
import type { CompiledModel } from './compiled-model.ts';

/** What a method owns: its rows' state and what one step does to them. */
export interface Method<Job, Row extends { job: Job }, Outcome> {
  /** The lane (shape) of a job: rows of one pass share it (the number of vectors K). */
  lane(job: Job): number;
  /** Texts (batch rows) a job takes; default 1. A job is never split over passes. */
  texts?(job: Job): number;
  /** Positions one row of the job takes in a pass (admission by the token budget). */
  positions(job: Job): number;
  /** Rows whose inputs grow while they run: their current positions; admission is then by texts only, and each step
   * is cut into chunks within the token budget. */
  chunkPositions?(row: Row): number;
  /** Starts admitted jobs (initial vectors, optimizer state, baselines in one batched pass). */
  start(model: CompiledModel, K: number, jobs: Job[]): Promise<Row[]>;
  /** One optimisation step for these rows (one forward/backward pass and the updates). */
  step(model: CompiledModel, K: number, rows: Row[]): Promise<void>;
  finished(row: Row): boolean;
  /** A finished row's outcomes (a group's: one per text). */
  outcomes(model: CompiledModel, K: number, row: Row): Outcome[] | Promise<Outcome[]>;
}

export interface BatchLimits {
  /** Most texts optimised together in one lane. */
  maxBatch: number;
  /** Most positions (longest row × texts) in one forward pass. */
  maxBatchTokens: number;
  /**
   * Most lanes (K values) stepping at a time (default 2). More lanes step alternately, each its own pass: for runs
   * whose texts mostly differ in K (compressMany's one-sequence memories), so that none waits for another to end.
   */
  maxLanes?: number;
}

/** Counts in texts. */
export interface LoopProgress {
  active: number;
  queued: number;
  finished: number;
  total: number;
  stepsDone: number;
}

/** An entry point's hooks (cramAll, progressiveAll, oneStepAll): its outcomes, its progress, stopping. */
export interface Hooks<Outcome, Progress extends LoopProgress, Job = never> {
  onFinish?: (o: Outcome) => void | Promise<void>;
  onStep?: (p: Progress) => void;
  /** Checked between steps; when true the run stops and unfinished texts are dropped (nothing is emitted for them). */
  shouldStop?: () => boolean;
  /**
   * Asked between steps (and before the run would end): more jobs to run, joining the running batch at once (their
   * lane's next step, or a new lane). Absent: the jobs given at the start are all there is.
   */
  admit?: () => Job[] | Promise<Job[]>;
}

/** The loop's hooks: progress comes with the rows still running, from which an entry point reports its means. */
export interface LoopHooks<Row, Outcome, Job = never> {
  onFinish?: (o: Outcome) => void | Promise<void>;
  /** Asked between steps and before the run would end: jobs that join the run now (see Hooks.admit). */
  admit?: () => Job[] | Promise<Job[]>;
  /** After each round of lane steps, with the rows still running. */
  onStep?: (p: LoopProgress, active: Row[]) => void;
  /** Checked between steps; when true the loop returns and unfinished jobs are dropped (nothing is emitted for them). */
  shouldStop?: () => boolean;
}

/** Rows grouped so that (longest row) × rows stays within the token budget, and at most `maxTexts` rows (at least one
 * row each). */
export function chunkRows<Row>(
  rows: readonly Row[],
  positions: (r: Row) => number,
  maxTokens: number,
  maxTexts = Infinity,
): Row[][] {
  const out: Row[][] = [];
  let cur: Row[] = [];
  let longest = 0;
  for (const r of rows) {
    const p = positions(r);
    if (cur.length > 0 && (cur.length + 1 > maxTexts || Math.max(longest, p) * (cur.length + 1) > maxTokens)) {
      out.push(cur);
      cur = [];
      longest = 0;
    }
    cur.push(r);
    longest = Math.max(longest, p);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

interface Lane<Job, Row> {
  K: number;
  queue: Job[];
  rows: Row[];
}

/** Runs every job to its end with `method`; outcomes arrive through hooks.onFinish as jobs finish. */
export async function runBatched<Job, Row extends { job: Job }, Outcome>(
  model: CompiledModel,
  jobs: Job[],
  method: Method<Job, Row, Outcome>,
  limits: BatchLimits,
  hooks: LoopHooks<Row, Outcome, Job> = {},
): Promise<void> {
  const width = (j: Job) => method.texts?.(j) ?? 1;
  const textsOf = (js: Job[]) => (method.texts ? js.reduce((a, j) => a + width(j), 0) : js.length);
  const rowTexts = (rs: Row[]) => (method.texts ? rs.reduce((a, r) => a + width(r.job), 0) : rs.length);
  const groups = new Map<number, Job[]>();
  for (const j of jobs) {
    const K = method.lane(j);
    const g = groups.get(K);
    if (g) g.push(j);
    else groups.set(K, [j]);
  }
  const pending: Lane<Job, Row>[] = [...groups].map(([K, queue]) => ({ K, queue, rows: [] }));
  const lanes: Lane<Job, Row>[] = [];
  const live = (l: Lane<Job, Row>) => rowTexts(l.rows) + textsOf(l.queue);
  let total = textsOf(jobs);
  /** A job that joins the run: into the queue of its lane (open or pending), else a new pending lane. */
  const enqueue = (j: Job) => {
    const K = method.lane(j);
    const lane = lanes.find((l) => l.K === K) ?? pending.find((l) => l.K === K);
    if (lane) lane.queue.push(j);
    else pending.push({ K, queue: [j], rows: [] });
    total += width(j);
  };
  let finished = 0;
  let stepsDone = 0;

  const admit = async (lane: Lane<Job, Row>) => {
    let texts = rowTexts(lane.rows);
    const byTokens = !method.chunkPositions;
    let longest = byTokens ? Math.max(0, ...lane.rows.map((r) => method.positions(r.job))) : 0;
    const admitted: Job[] = [];
    while (lane.queue.length > 0) {
      const job = lane.queue[0];
      const w = width(job);
      const p = byTokens ? Math.max(longest, method.positions(job)) : 0;
      if (texts > 0 && (texts + w > limits.maxBatch || (byTokens && p * (texts + w) > limits.maxBatchTokens))) break;
      lane.queue.shift();
      admitted.push(job);
      texts += w;
      longest = p;
    }
    if (admitted.length > 0) lane.rows.push(...(await method.start(model, lane.K, admitted)));
  };

  const stepLane = async (lane: Lane<Job, Row>) => {
    const { K, rows } = lane;
    const parts = method.chunkPositions ? chunkRows(rows, method.chunkPositions, limits.maxBatchTokens) : [rows];
    for (const part of parts) await method.step(model, K, part);
    stepsDone++;
    for (const row of rows.filter((r) => method.finished(r))) {
      const outs = await method.outcomes(model, K, row);
      rows.splice(rows.indexOf(row), 1);
      for (const o of outs) {
        finished++;
        await hooks.onFinish?.(o);
      }
    }
  };

  const lowWater = Math.max(1, Math.floor(limits.maxBatch / 4));
  const maxLanes = limits.maxLanes ?? 2;
  for (;;) {
    if (hooks.admit) for (const j of await hooks.admit()) enqueue(j);
    if (pending.length === 0 && lanes.length === 0) break;
    if (hooks.shouldStop?.()) return;
    // Open the next lane when there is none, or when the open ones have run low on texts.
    let open = lanes.reduce((a, l) => a + live(l), 0);
    while (pending.length > 0 && (lanes.length === 0 || (lanes.length < maxLanes && open <= lowWater))) {
      lanes.push(pending.shift()!);
      if (maxLanes === 2) break;
      open += live(lanes[lanes.length - 1]);
    }
    for (const lane of lanes) {
      if (hooks.shouldStop?.()) return;
      await admit(lane);
      if (lane.rows.length > 0) await stepLane(lane);
    }
    for (let i = lanes.length - 1; i >= 0; i--) if (live(lanes[i]) === 0) lanes.splice(i, 1);
    const active = lanes.flatMap((l) => l.rows);
    hooks.onStep?.(
      {
        active: rowTexts(active),
        queued: [...lanes, ...pending].reduce((a, l) => a + textsOf(l.queue), 0),
        finished,
        total,
        stepsDone,
      },
      active,
    );
    // Yield to the event loop so progress output and signals get through.
    if (stepsDone % 8 === 0) await new Promise((r) => setImmediate(r));
  }
}

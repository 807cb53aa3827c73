/**
 * Progressive cramming (Tarasov et al., ICML 2026): per text, the target grows in stages — the first `startLength`
 * tokens, then longer prefixes (linear growth by `step`, or doubling until a stage fails and then bisection of the
 * bracket) — and the [mem] vectors and their AdamW state are carried from one stage into the next (warm start). A
 * stage is passed only when greedy regeneration from the vectors reproduces the stage's prefix exactly; teacher-forced
 * accuracy 1.0 is the cheap pre-check that decides when to run it. A stage that is not passed within its step budget
 * may get one restart of the optimizer (fresh AdamW moments and bias correction, the learning-rate reset of the
 * original's variant, constant learning rate here) before it counts as failed; the text's total budget bounds all
 * stages. The kept vectors are the ones that passed the last stage; the text's horizon is the longest prefix of the
 * whole text that greedy regeneration reproduces with them.
 *
 * Batching: the shared loop (batch-loop.ts), like cramAll: many texts in one forward/backward pass, finished texts make
 * room for queued ones, but here every text sits at its own stage length (rows right-padded; each text's loss and
 * gradient are its own, tested against the same text alone). The original trainer moves a whole batch through one
 * stage length at a time. Rows grow, so a batch is admitted by texts and stepped in chunks within the token budget
 * (same results, smaller passes). This file is the stage machine: what one step and the end of a stage do to a text.
 */
import { adamwState, adamwUpdate, PAPER_ADAMW, type AdamWSettings, type AdamWState } from './adamw.ts';
import { runBatched, type Hooks, type LoopProgress, type Method } from './batch-loop.ts';
import type { CompiledModel } from './compiled-model.ts';
import { initMemory } from './init.ts';
import { regenerate, regenerateMany } from './regenerate.ts';

export type GrowthSchedule = 'linear' | 'doubling';

export interface ProgressiveJob {
  key: string;
  /** The whole target (BOS included where the tokenizer adds one); stages are its prefixes. */
  ids: number[];
  nMem: number;
  /** Seed string for the initial vectors (default: the key). */
  seed?: string;
  /** Keep per-step loss, accuracy and stage length (curves). */
  recordTrajectory?: boolean;
  /** Warm start: begin from these vectors [nMem·d] instead of a seeded draw (fresh AdamW state). */
  init?: Float32Array;
  /**
   * With `init`: the prefix length those vectors are known to reproduce exactly (they are kept, and reported, when no
   * later stage passes). Default 1 (none).
   */
  passed?: number;
  /** With `init`: its AdamW state (moments and step count), e.g. from a passed stage; default fresh. */
  initAdam?: AdamWState;
  /** First stage length for this job (default: settings.startLength). */
  startLength?: number;
  /** Passes one stage of this job may take (again after a reset); default settings.stageSteps. */
  stageSteps?: number;
}

export interface ProgressiveSettings {
  optimizer: AdamWSettings;
  schedule: GrowthSchedule;
  /** First stage length in tokens (BOS counted), ≥ 2. */
  startLength: number;
  /** Linear: tokens added per passed stage. Doubling: the bisection stops once the bracket is at most this wide. */
  step: number;
  /** Forward/backward passes one stage may take (again after a reset). */
  stageSteps: number;
  /** Forward/backward passes one text may take over all its stages. */
  maxSteps: number;
  /** One optimizer restart per stage before the stage counts as failed. */
  lrReset: boolean;
  maxBatch: number;
  /** Most (K + longest stage) × texts positions in one forward pass (larger batches are stepped in chunks). */
  maxBatchTokens: number;
  /** Most lanes (K values) stepping at a time (batch-loop.ts; default 2). */
  maxLanes?: number;
}

export const PROGRESSIVE_DEFAULTS: ProgressiveSettings = {
  optimizer: PAPER_ADAMW,
  schedule: 'linear',
  startLength: 2,
  step: 1,
  stageSteps: 500,
  maxSteps: 10_000,
  lrReset: true,
  maxBatch: 32,
  maxBatchTokens: 8192,
};

export type ProgressiveStop = 'full_length' | 'stage_failed' | 'text_budget' | 'diverged';

export interface StageOutcome {
  /** Target length of the stage (tokens, BOS counted). */
  length: number;
  /** Passes spent in the stage (both attempts when reset). */
  steps: number;
  /** passed: greedy regeneration exact; failed: its budget ran out; budget: the text's budget ran out during it. */
  outcome: 'passed' | 'failed' | 'budget' | 'diverged';
  /** The optimizer was restarted once in this stage. */
  reset: boolean;
  /** Highest teacher-forced accuracy the stage reached. */
  bestAccuracy: number;
  /** Teacher-forced accuracy 1.0 was reached but greedy regeneration differed (numeric near-ties): the stage went on. */
  greedyRejections: number;
}

export interface ProgressiveOutcome {
  key: string;
  nMem: number;
  /** Tokens of the whole target. */
  nTokens: number;
  embedDim: number;
  /** Longest stage passed (tokens, BOS counted); 1 when none was (only the given first token). */
  passedLength: number;
  /** Shortest stage that failed; null when none did. */
  failedLength: number | null;
  /** Longest prefix of the whole target greedy regeneration reproduces from the kept vectors (tokens, first counted). */
  horizon: number;
  /** The kept vectors [K·d]: those that passed the last passed stage (the initial ones when none passed). */
  memory: Float32Array;
  stages: StageOutcome[];
  /** Forward/backward passes over all stages. */
  steps: number;
  lrResets: number;
  stopReason: ProgressiveStop;
  /** No-vector cross-entropy of each of the target's N−1 predictions (nats). */
  originalTokenCe: number[];
  /** Teacher-forced accuracy without vectors over the whole target. */
  originalAccuracy: number;
  seconds: number;
  trajectory?: { loss: number[]; accuracy: number[]; length: number[] };
}

export interface ProgressiveProgress extends LoopProgress {
  /** Mean current stage length of the texts in the batch. */
  meanStage: number;
  /** Mean teacher-forced accuracy of the texts' last steps on their stages. */
  meanAccuracy: number;
}

/** A stage that passed: the vectors and optimizer state the next stage starts from (a checkpoint to resume from). */
export interface StagePassed {
  key: string;
  /** The stage's length (tokens, first counted): these vectors regenerate the target's first `length` tokens. */
  length: number;
  memory: Float32Array;
  adam: AdamWState;
  /** Passes this text has taken so far. */
  steps: number;
}

export type ProgressiveHooks = Hooks<ProgressiveOutcome, ProgressiveProgress, ProgressiveJob> & {
  /** Called (synchronously, inside a step) for every stage that passes, except a text's last. */
  onStagePassed?: (p: StagePassed) => void;
};

interface Snapshot {
  mem: Float32Array;
  adam: AdamWState;
}

interface Slot {
  job: ProgressiveJob;
  mem: Float32Array;
  adam: AdamWState;
  /** Current stage length. */
  L: number;
  /** Passes in the current stage (all attempts) and in its current attempt (the budget). */
  stageSteps: number;
  attemptSteps: number;
  stageReset: boolean;
  stageBest: number;
  stageRejections: number;
  lastAccuracy: number;
  /** Largest passed length (1: none) and its state; smallest failed length. */
  lo: number;
  kept: Snapshot;
  hi: number | null;
  bisecting: boolean;
  steps: number;
  lrResets: number;
  stages: StageOutcome[];
  originalTokenCe: number[];
  originalAccuracy: number;
  start: number;
  trajectory?: { loss: number[]; accuracy: number[]; length: number[] };
  stop: ProgressiveStop | null;
}

const copyState = (s: AdamWState): AdamWState => ({
  m: Float32Array.from(s.m),
  v: Float32Array.from(s.v),
  step: s.step,
});

const stageRow = (s: Slot, outcome: StageOutcome['outcome']): StageOutcome => ({
  length: s.L,
  steps: s.stageSteps,
  outcome,
  reset: s.stageReset,
  bestAccuracy: s.stageBest,
  greedyRejections: s.stageRejections,
});

/** Ends the current stage; decides the next length or the end of the text. */
function endStage(s: Slot, passed: boolean, settings: ProgressiveSettings, onPassed?: (p: StagePassed) => void): void {
  s.stages.push(stageRow(s, passed ? 'passed' : 'failed'));
  const N = s.job.ids.length;
  let next: number | null = null;
  if (passed) {
    s.lo = s.L;
    s.kept = { mem: Float32Array.from(s.mem), adam: copyState(s.adam) };
    if (s.L >= N) s.stop = 'full_length';
    else if (settings.schedule === 'linear') next = Math.min(s.L + settings.step, N);
    else if (!s.bisecting) next = Math.min(2 * s.L, N);
    else if (s.hi !== null && s.hi - s.lo > settings.step) next = Math.floor((s.lo + s.hi) / 2);
    else s.stop = 'stage_failed';
    if (s.stop === null)
      onPassed?.({ key: s.job.key, length: s.L, memory: s.kept.mem, adam: s.kept.adam, steps: s.steps });
  } else {
    s.hi = s.hi === null ? s.L : Math.min(s.hi, s.L);
    if (settings.schedule === 'doubling' && s.hi - s.lo > settings.step) {
      // Bisect the bracket, each probe warm-started from the last passed state (vectors and optimizer state).
      s.bisecting = true;
      next = Math.max(2, Math.floor((s.lo + s.hi) / 2));
      if (next >= s.hi) next = null;
      s.mem = Float32Array.from(s.kept.mem);
      s.adam = copyState(s.kept.adam);
    }
    if (next === null) s.stop = 'stage_failed';
  }
  if (next !== null && s.stop === null) {
    s.L = next;
    s.stageSteps = 0;
    s.attemptSteps = 0;
    s.stageReset = false;
    s.stageBest = 0;
    s.stageRejections = 0;
  }
}

type ProgressiveMethod = Method<ProgressiveJob, Slot, ProgressiveOutcome>;

/** The progressive method: one row per text at its stage length, lanes by K, chunked steps. */
function progressive(
  d: number,
  std: number,
  settings: ProgressiveSettings,
  onPassed?: (p: StagePassed) => void,
): ProgressiveMethod {
  return {
    lane: (job) => job.nMem,
    positions: (job) => job.nMem + job.ids.length,
    chunkPositions: (s) => s.job.nMem + s.L,
    async start(model, K, jobs) {
      const slots = jobs.map((job): Slot => {
        const mem = job.init ? Float32Array.from(job.init) : initMemory(K, d, std, job.seed ?? job.key);
        const adam = job.initAdam && job.init ? copyState(job.initAdam) : adamwState(K * d);
        return {
          job,
          mem,
          adam,
          L: Math.min(job.startLength ?? settings.startLength, job.ids.length),
          stageSteps: 0,
          attemptSteps: 0,
          stageReset: false,
          stageBest: 0,
          stageRejections: 0,
          lastAccuracy: 0,
          lo: job.init ? (job.passed ?? 1) : 1,
          kept: { mem: Float32Array.from(mem), adam: copyState(adam) },
          hi: null,
          bisecting: false,
          steps: 0,
          lrResets: 0,
          stages: [],
          originalTokenCe: [],
          originalAccuracy: NaN,
          start: performance.now(),
          trajectory: job.recordTrajectory ? { loss: [], accuracy: [], length: [] } : undefined,
          stop: null,
        };
      });
      const base = await model.evaluate(
        0,
        null,
        jobs.map((j) => j.ids),
      );
      slots.forEach((s, i) => {
        s.originalTokenCe = base[i].tokenCe;
        s.originalAccuracy = base[i].accuracy;
      });
      return slots;
    },
    async step(model, K, chunk) {
      const size = K * d;
      const mem = new Float32Array(chunk.length * size);
      chunk.forEach((s, b) => mem.set(s.mem, b * size));
      const r = await model.objective(
        K,
        mem,
        chunk.map((s) => s.job.ids.slice(0, s.L)),
        true,
      );
      const candidates: number[] = [];
      chunk.forEach((s, b) => {
        const loss = r.loss[b];
        const acc = r.correct[b] / (s.L - 1);
        s.steps++;
        s.stageSteps++;
        s.attemptSteps++;
        s.stageBest = Math.max(s.stageBest, acc);
        s.lastAccuracy = acc;
        s.trajectory?.loss.push(loss);
        s.trajectory?.accuracy.push(acc);
        s.trajectory?.length.push(s.L);
        if (!Number.isFinite(loss)) {
          s.stages.push(stageRow(s, 'diverged'));
          s.stop = 'diverged';
          return;
        }
        if (r.correct[b] === s.L - 1) candidates.push(b);
      });
      // The pre-check passed: greedy regeneration of the stage's prefix from these (pre-update) vectors decides.
      const passed = new Set<number>();
      if (candidates.length > 0) {
        const items = candidates.map((b) => ({ memory: chunk[b].mem, ids: chunk[b].job.ids.slice(0, chunk[b].L) }));
        const regen = await regenerateMany(model, K, items);
        candidates.forEach((b, i) => {
          if (regen[i].regenerated_exact) passed.add(b);
          else chunk[b].stageRejections++;
        });
      }
      chunk.forEach((s, b) => {
        if (s.stop !== null) return;
        if (passed.has(b)) {
          // No update: the next stage starts from exactly the vectors (and optimizer state) that passed this one.
          endStage(s, true, settings, onPassed);
        } else {
          adamwUpdate(settings.optimizer, s.mem, r.grad!, s.adam, b * size);
          if (s.attemptSteps >= (s.job.stageSteps ?? settings.stageSteps)) {
            if (settings.lrReset && !s.stageReset) {
              s.adam = adamwState(size);
              s.stageReset = true;
              s.attemptSteps = 0;
              s.lrResets++;
            } else {
              endStage(s, false, settings);
            }
          }
        }
        if (s.stop === null && s.steps >= settings.maxSteps) {
          if (s.stageSteps > 0) s.stages.push(stageRow(s, 'budget'));
          s.stop = 'text_budget';
        }
      });
    },
    finished: (s) => s.stop !== null,
    async outcomes(model, K, s) {
      // The horizon: how far greedy regeneration from the kept vectors follows the whole target.
      const regen = await regenerate(model, s.kept.mem, K, s.job.ids);
      const failed = s.stages.filter((x) => x.outcome === 'failed').map((x) => x.length);
      return [
        {
          key: s.job.key,
          nMem: K,
          nTokens: s.job.ids.length,
          embedDim: d,
          passedLength: s.lo,
          failedLength: failed.length > 0 ? Math.min(...failed) : null,
          horizon: 1 + regen.regenerated_prefix_tokens,
          memory: s.kept.mem,
          stages: s.stages,
          steps: s.steps,
          lrResets: s.lrResets,
          stopReason: s.stop!,
          originalTokenCe: s.originalTokenCe,
          originalAccuracy: s.originalAccuracy,
          seconds: (performance.now() - s.start) / 1000,
          trajectory: s.trajectory,
        },
      ];
    },
  };
}

/** Runs progressive cramming for every job; outcomes arrive through hooks.onFinish as texts finish. */
export async function progressiveAll(
  model: CompiledModel,
  jobs: ProgressiveJob[],
  settings: ProgressiveSettings = PROGRESSIVE_DEFAULTS,
  hooks: ProgressiveHooks = {},
): Promise<void> {
  const d = model.embedDim;
  if (settings.startLength < 2) throw new Error('progressive: the first stage needs at least 2 tokens');
  if (settings.step < 1 || settings.stageSteps < 1 || settings.maxSteps < 1) {
    throw new Error('progressive: step, stageSteps and maxSteps must be ≥ 1');
  }
  const check = (js: ProgressiveJob[]) => {
    checkJobs(model, js, settings);
    return js;
  };
  check(jobs);
  const std = jobs.length > 0 || hooks.admit ? model.model.embeddingStd() : 0;
  const mean = (xs: Slot[], f: (s: Slot) => number, empty: number) =>
    xs.length ? xs.reduce((a, s) => a + f(s), 0) / xs.length : empty;
  const admit = hooks.admit;
  await runBatched(model, jobs, progressive(d, std, settings, hooks.onStagePassed), settings, {
    onFinish: hooks.onFinish,
    shouldStop: hooks.shouldStop,
    admit: admit && (async () => check(await admit())),
    onStep:
      hooks.onStep &&
      ((p, active) =>
        hooks.onStep!({
          ...p,
          meanStage: mean(active, (s) => s.L, 0),
          meanAccuracy: mean(active, (s) => s.lastAccuracy, 1),
        })),
  });
}

/** Refuses jobs the run cannot take (too short, wrong vector sizes, too long for the model or the batch). */
function checkJobs(model: CompiledModel, jobs: ProgressiveJob[], settings: ProgressiveSettings): void {
  const d = model.embedDim;
  for (const j of jobs) {
    if (j.ids.length < 2) throw new Error(`text ${j.key} has ${j.ids.length} token(s); at least 2 are needed`);
    if (j.init && j.init.length !== j.nMem * d) {
      throw new Error(`text ${j.key}: initial vectors hold ${j.init.length} values, expected ${j.nMem}×${d}`);
    }
    if (j.startLength !== undefined && !(Number.isInteger(j.startLength) && j.startLength >= 2)) {
      throw new Error(`text ${j.key}: startLength must be an integer ≥ 2, got ${j.startLength}`);
    }
    if (j.stageSteps !== undefined && !(Number.isInteger(j.stageSteps) && j.stageSteps >= 1)) {
      throw new Error(`text ${j.key}: stageSteps must be a positive integer, got ${j.stageSteps}`);
    }
    if (j.initAdam && (j.initAdam.m.length !== j.nMem * d || j.initAdam.v.length !== j.nMem * d)) {
      throw new Error(`text ${j.key}: initial optimizer state does not match ${j.nMem}×${d} vectors`);
    }
  }
  if (jobs.length > 0) {
    const longest = jobs.reduce((a, j) => (j.nMem + j.ids.length > a.nMem + a.ids.length ? j : a));
    const maxTokens = longest.nMem + longest.ids.length;
    model.checkFits({
      maxTokens,
      tokensFrom: `text ${longest.key} (${longest.nMem} vectors + ${longest.ids.length} tokens)`,
      batchTokens: Math.max(maxTokens, settings.maxBatchTokens),
    });
  }
}

/**
 * Autoregressive cramming, batched: each text has its own K [mem] vectors and AdamW state, optimised until the frozen
 * model predicts the text (accuracy 1.0), `patience` steps without improvement, the step limit, or a non-finite loss.
 * Many texts share one forward/backward pass (texts of different lengths right-padded); the scheduling (lanes by K,
 * admission by texts and tokens, finished texts making room for queued ones) is batch-loop.ts, the kept vectors and
 * stop rules best.ts. This file is the method: a text's state and what one step does to it.
 */
import { adamwState, adamwUpdate, PAPER_ADAMW, type AdamWSettings, type AdamWState } from './adamw.ts';
import { runBatched, type Hooks, type LoopProgress, type Method } from './batch-loop.ts';
import { BestSoFar, type StopReason } from './best.ts';
import type { CompiledModel } from './compiled-model.ts';
import { initMemory } from './init.ts';

export type { StopReason } from './best.ts';

export interface CramJob {
  /** Unique key; also names the job's random stream, so its start does not depend on its batch-mates. */
  key: string;
  /** Token ids of the text (BOS included where the tokenizer adds one); N = ids.length ≥ 2. */
  ids: number[];
  nMem: number;
  /** Seed string for the initial vectors (default: the key). */
  seed?: string;
  /** Start from these vectors [K·d] instead of a seeded random draw (warm starts, interpolation studies). */
  init?: Float32Array;
  /** Keep a copy of the vectors every this many steps (trajectory studies); 0 or absent: none. */
  vectorsEvery?: number;
}

export interface CramSettings {
  optimizer: AdamWSettings;
  maxSteps: number;
  /** Stop after this many steps without a strict improvement of the best accuracy. */
  patience: number;
  /** Most texts optimised together. */
  maxBatch: number;
  /** Most (K + N_max) × texts positions in one forward pass. */
  maxBatchTokens: number;
  /** Keep per-step loss and accuracy for each text (optimisation curves). */
  recordTrajectory: boolean;
}

export const PAPER_SETTINGS: CramSettings = {
  optimizer: PAPER_ADAMW,
  maxSteps: 5000,
  patience: 2000,
  maxBatch: 32,
  maxBatchTokens: 8192,
  recordTrajectory: false,
};

export interface CramOutcome {
  key: string;
  nTokens: number;
  nMem: number;
  /** No-mem baseline over the same N-1 predictions. */
  originalLoss: number;
  originalAccuracy: number;
  bestAccuracy: number;
  /** Lowest loss over all steps (the paper's best_loss; may come from another step than bestAccuracy). */
  bestLoss: number;
  /** Loss at the step that gave bestAccuracy (the vectors that are kept). */
  lossAtBestAccuracy: number;
  /** 1-based step at which bestAccuracy was measured. */
  bestStep: number;
  /** Forward/backward passes done. */
  steps: number;
  stopReason: StopReason;
  /** [K × d] vectors as they were when bestAccuracy was measured (not one update later). */
  memory: Float32Array;
  embedDim: number;
  /** Wall time this text spent in the batch. */
  seconds: number;
  trajectory?: { loss: number[]; accuracy: number[] };
  /** Vectors every `vectorsEvery` steps (step 0 = the initial vectors), when asked. */
  vectorTrajectory?: { steps: number[]; vectors: Float32Array[] };
}

export interface CramProgress extends LoopProgress {
  /** Mean current accuracy of the texts in the batch. */
  meanAccuracy: number;
}

interface Slot {
  job: CramJob;
  n: number;
  mem: Float32Array;
  adam: AdamWState;
  /** Best accuracy, its step, and the pre-update vectors and loss it was measured with. */
  best: BestSoFar<{ mem: Float32Array; loss: number }>;
  minLoss: number;
  originalLoss: number;
  originalAccuracy: number;
  start: number;
  lastAccuracy: number;
  stop: StopReason | null;
  trajectory?: { loss: number[]; accuracy: number[] };
  vectorTrajectory?: { steps: number[]; vectors: Float32Array[] };
}

export type CramHooks = Hooks<CramOutcome, CramProgress, CramJob>;

/** The autoregressive method: one row per text, lanes by K, positions K + N. */
function autoregressive(d: number, std: number, settings: CramSettings): Method<CramJob, Slot, CramOutcome> {
  return {
    lane: (job) => job.nMem,
    positions: (job) => job.nMem + job.ids.length,
    async start(model, K, jobs) {
      const slots = jobs.map((job): Slot => {
        const mem = job.init ? Float32Array.from(job.init) : initMemory(K, d, std, job.seed ?? job.key);
        return {
          job,
          n: job.ids.length,
          mem,
          adam: adamwState(K * d),
          best: new BestSoFar(),
          minLoss: Infinity,
          originalLoss: NaN,
          originalAccuracy: NaN,
          start: performance.now(),
          lastAccuracy: 0,
          stop: null,
          trajectory: settings.recordTrajectory ? { loss: [], accuracy: [] } : undefined,
          vectorTrajectory: job.vectorsEvery ? { steps: [0], vectors: [Float32Array.from(mem)] } : undefined,
        };
      });
      const base = await model.evaluate(
        0,
        null,
        jobs.map((j) => j.ids),
      );
      slots.forEach((s, i) => {
        s.originalLoss = base[i].loss;
        s.originalAccuracy = base[i].accuracy;
      });
      return slots;
    },
    async step(model, K, slots) {
      const size = K * d;
      const mem = new Float32Array(slots.length * size);
      slots.forEach((s, b) => mem.set(s.mem, b * size));
      // One forward/backward for the whole batch: the single host round trip per step.
      const r = await model.objective(
        K,
        mem,
        slots.map((s) => s.job.ids),
        true,
      );
      slots.forEach((s, b) => {
        const loss = r.loss[b];
        const acc = r.correct[b] / (s.n - 1);
        s.lastAccuracy = acc;
        s.trajectory?.loss.push(loss);
        s.trajectory?.accuracy.push(acc);
        if (!Number.isFinite(loss)) {
          // A non-finite loss (too large a learning rate, non-finite weights) ends this text; the vectors kept are the
          // last ones that gave a finite loss.
          s.adam.step++;
          s.stop = 'diverged';
          return;
        }
        if (loss < s.minLoss) s.minLoss = loss;
        s.best.observe(acc, s.adam.step + 1, () => ({ mem: Float32Array.from(s.mem), loss }), loss);
        adamwUpdate(settings.optimizer, s.mem, r.grad!, s.adam, b * size);
        const every = s.job.vectorsEvery;
        if (every && s.adam.step % every === 0) {
          s.vectorTrajectory!.steps.push(s.adam.step);
          s.vectorTrajectory!.vectors.push(Float32Array.from(s.mem));
        }
        s.stop = s.best.stop(settings, s.adam.step, r.correct[b] === s.n - 1);
      });
    },
    finished: (s) => s.stop !== null,
    outcomes: (_model, K, s) => [
      {
        key: s.job.key,
        nTokens: s.n,
        nMem: K,
        originalLoss: s.originalLoss,
        originalAccuracy: s.originalAccuracy,
        bestAccuracy: Math.max(s.best.accuracy, 0),
        bestLoss: s.minLoss,
        lossAtBestAccuracy: s.best.kept?.loss ?? Infinity,
        bestStep: s.best.step,
        steps: s.adam.step,
        stopReason: s.stop!,
        memory: s.best.kept?.mem ?? Float32Array.from(s.mem),
        embedDim: d,
        seconds: (performance.now() - s.start) / 1000,
        trajectory: s.trajectory,
        vectorTrajectory: s.vectorTrajectory,
      },
    ],
  };
}

/** Optimises every job; outcomes are emitted through hooks.onFinish as texts finish. */
export async function cramAll(
  model: CompiledModel,
  jobs: CramJob[],
  settings: CramSettings = PAPER_SETTINGS,
  hooks: CramHooks = {},
): Promise<void> {
  const d = model.embedDim;
  const check = (js: CramJob[]) => {
    for (const j of js) {
      if (j.ids.length < 2) throw new Error(`text ${j.key} has ${j.ids.length} token(s); at least 2 are needed`);
      if (j.init && j.init.length !== j.nMem * d) {
        throw new Error(`text ${j.key}: initial vectors hold ${j.init.length} values, expected ${j.nMem}×${d}`);
      }
    }
    // Known limits before any step: the longest input against the positions, the batches against memory.
    if (js.length > 0) {
      const longest = js.reduce((a, j) => (j.nMem + j.ids.length > a.nMem + a.ids.length ? j : a));
      const maxTokens = longest.nMem + longest.ids.length;
      model.checkFits({
        maxTokens,
        tokensFrom: `text ${longest.key} (${longest.nMem} vectors + ${longest.ids.length} tokens)`,
        batchTokens: Math.max(maxTokens, Math.min(settings.maxBatchTokens, settings.maxBatch * maxTokens)),
      });
    }
    return js;
  };
  check(jobs);
  const std = hooks.admit || jobs.some((j) => !j.init) ? model.model.embeddingStd() : 0;
  const admit = hooks.admit;
  await runBatched(model, jobs, autoregressive(d, std, settings), settings, {
    onFinish: hooks.onFinish,
    shouldStop: hooks.shouldStop,
    admit: admit && (async () => check(await admit())),
    onStep:
      hooks.onStep &&
      ((p, active) =>
        hooks.onStep!({
          ...p,
          meanAccuracy: active.length ? active.reduce((a, s) => a + s.lastAccuracy, 0) / active.length : 1,
        })),
  });
}

/** Convenience: one text, one outcome. */
export async function cramOne(
  model: CompiledModel,
  job: CramJob,
  settings: CramSettings = PAPER_SETTINGS,
  onStep?: (p: CramProgress) => void,
): Promise<CramOutcome> {
  let out: CramOutcome | null = null;
  await cramAll(model, [job], settings, {
    onFinish: (o) => {
      out = o;
    },
    onStep,
  });
  return out!;
}

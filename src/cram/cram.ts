/**
 * The batched cramming engine. Many texts are optimised in one forward/backward pass, each with its own [mem]
 * vectors and AdamW state; a text that finishes (accuracy 1.0, patience, step limit, or a non-finite loss) leaves the
 * batch and the next queued text with the same number of vectors takes its slot ("continuous batching" of
 * optimisation problems). Texts of different lengths are right-padded; the batch is bounded by texts and by tokens.
 * When a K group runs low on texts, the next group's texts start in a second batch that steps alternately with it.
 */
import { adamwState, adamwUpdate, PAPER_ADAMW, type AdamWSettings, type AdamWState } from './adamw.ts';
import type { CompiledModel } from './compiled-model.ts';
import { initMemory } from './init.ts';

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
  optimizer: PAPER_ADAMW, maxSteps: 5000, patience: 2000, maxBatch: 32, maxBatchTokens: 8192, recordTrajectory: false,
};

export type StopReason = 'solved' | 'patience' | 'max_steps' | 'diverged';

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

export interface CramProgress {
  active: number;
  queued: number;
  finished: number;
  total: number;
  /** Mean current accuracy of the texts in the batch. */
  meanAccuracy: number;
  stepsDone: number;
}

interface Slot {
  job: CramJob;
  n: number;
  mem: Float32Array;
  adam: AdamWState;
  best: number;
  bestMem: Float32Array | null;
  bestStep: number;
  lossAtBest: number;
  minLoss: number;
  sinceImprove: number;
  originalLoss: number;
  originalAccuracy: number;
  start: number;
  lastAccuracy: number;
  diverged: boolean;
  trajectory?: { loss: number[]; accuracy: number[] };
  vectorTrajectory?: { steps: number[]; vectors: Float32Array[] };
}

export interface CramHooks {
  onFinish?: (o: CramOutcome) => void | Promise<void>;
  onStep?: (p: CramProgress) => void;
  /** Checked between steps; when true, the run stops and unfinished texts are dropped (nothing is emitted for them). */
  shouldStop?: () => boolean;
}

/** No-mem loss and accuracy for texts, batched. */
export async function baseline(engine: CompiledModel, texts: number[][]): Promise<{ loss: number; accuracy: number }[]> {
  const r = await engine.objective(0, null, texts, false);
  return texts.map((t, i) => ({ loss: r.loss[i], accuracy: r.correct[i] / (t.length - 1) }));
}

/** Loss and accuracy of given vectors [B·K·d] on texts (teacher-forced), batched. */
export async function evaluateVectors(engine: CompiledModel, nMem: number, memory: Float32Array, texts: number[][]): Promise<{ loss: number; accuracy: number }[]> {
  const r = await engine.objective(nMem, memory, texts, false);
  return texts.map((t, i) => ({ loss: r.loss[i], accuracy: r.correct[i] / (t.length - 1) }));
}

/** One K group's running batch. */
class Lane {
  readonly slots: Slot[] = [];
  constructor(readonly K: number, readonly queue: CramJob[]) {}
  get live(): number { return this.slots.length + this.queue.length; }
}

/** Optimises every job; outcomes are emitted through hooks.onFinish as texts finish. */
export async function cramAll(engine: CompiledModel, jobs: CramJob[], settings: CramSettings = PAPER_SETTINGS, hooks: CramHooks = {}): Promise<void> {
  const model = engine.model;
  const d = model.embedDim;
  for (const j of jobs) {
    if (j.ids.length < 2) throw new Error(`text ${j.key} has ${j.ids.length} token(s); at least 2 are needed`);
    if (j.init && j.init.length !== j.nMem * d) throw new Error(`text ${j.key}: initial vectors hold ${j.init.length} values, expected ${j.nMem}×${d}`);
  }
  // Known limits before any step: the longest input against the positions, the batches against memory.
  if (jobs.length > 0) {
    const longest = jobs.reduce((a, j) => (j.nMem + j.ids.length > a.nMem + a.ids.length ? j : a));
    const maxTokens = longest.nMem + longest.ids.length;
    engine.checkFits({
      maxTokens, tokensFrom: `text ${longest.key} (${longest.nMem} vectors + ${longest.ids.length} tokens)`,
      batchTokens: Math.max(maxTokens, Math.min(settings.maxBatchTokens, settings.maxBatch * maxTokens)),
    });
  }
  const std = jobs.some((j) => !j.init) ? model.embeddingStd() : 0;
  // One K per batch: rows of a batch share the [B, K, d] shape. Groups run in order of first appearance.
  const groups = new Map<number, CramJob[]>();
  for (const j of jobs) groups.set(j.nMem, [...(groups.get(j.nMem) ?? []), j]);
  const pending = [...groups].map(([K, g]) => new Lane(K, [...g]));
  const lanes: Lane[] = [];
  let finished = 0;
  let stepsDone = 0;

  const fits = (lane: Lane, n: number) => lane.slots.length < settings.maxBatch &&
    (lane.K + Math.max(n, ...lane.slots.map((s) => s.n))) * (lane.slots.length + 1) <= Math.max(settings.maxBatchTokens, lane.K + n);

  const admit = async (lane: Lane) => {
    const admitted: Slot[] = [];
    while (lane.queue.length > 0 && (lane.slots.length === 0 || fits(lane, lane.queue[0].ids.length))) {
      const job = lane.queue.shift()!;
      const mem = job.init ? Float32Array.from(job.init) : initMemory(lane.K, d, std, job.seed ?? job.key);
      const slot: Slot = {
        job, n: job.ids.length, mem, adam: adamwState(lane.K * d),
        best: -1, bestMem: null, bestStep: 0, lossAtBest: Infinity, minLoss: Infinity, sinceImprove: 0,
        originalLoss: NaN, originalAccuracy: NaN, start: performance.now(), lastAccuracy: 0, diverged: false,
        trajectory: settings.recordTrajectory ? { loss: [], accuracy: [] } : undefined,
        vectorTrajectory: job.vectorsEvery ? { steps: [0], vectors: [Float32Array.from(mem)] } : undefined,
      };
      lane.slots.push(slot);
      admitted.push(slot);
    }
    if (admitted.length > 0) {
      const base = await baseline(engine, admitted.map((s) => s.job.ids));
      admitted.forEach((s, i) => { s.originalLoss = base[i].loss; s.originalAccuracy = base[i].accuracy; });
    }
  };

  const stepLane = async (lane: Lane) => {
    const { K, slots } = lane;
    const B = slots.length;
    const size = K * d;
    const mem = new Float32Array(B * size);
    slots.forEach((s, b) => mem.set(s.mem, b * size));
    // One forward/backward for the whole batch: the single host round trip per step.
    const r = await engine.objective(K, mem, slots.map((s) => s.job.ids), true);
    stepsDone++;
    const done: Slot[] = [];
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
        s.diverged = true;
        done.push(s);
        return;
      }
      if (loss < s.minLoss) s.minLoss = loss;
      if (acc > s.best) {
        // Keep the vectors this accuracy was measured with (pre-update), not the updated ones.
        s.bestMem = Float32Array.from(s.mem);
        s.best = acc;
        s.bestStep = s.adam.step + 1;
        s.lossAtBest = loss;
        s.sinceImprove = 0;
      } else {
        s.sinceImprove++;
      }
      adamwUpdate(settings.optimizer, s.mem, r.grad!, s.adam, b * size);
      const every = s.job.vectorsEvery;
      if (every && s.adam.step % every === 0) { s.vectorTrajectory!.steps.push(s.adam.step); s.vectorTrajectory!.vectors.push(Float32Array.from(s.mem)); }
      if (r.correct[b] === s.n - 1 || s.sinceImprove >= settings.patience || s.adam.step >= settings.maxSteps) done.push(s);
    });
    for (const s of done) {
      const stopReason: StopReason = s.diverged ? 'diverged' : s.best === 1 ? 'solved' : s.adam.step >= settings.maxSteps ? 'max_steps' : 'patience';
      const outcome: CramOutcome = {
        key: s.job.key, nTokens: s.n, nMem: K, originalLoss: s.originalLoss, originalAccuracy: s.originalAccuracy,
        bestAccuracy: Math.max(s.best, 0), bestLoss: s.minLoss, lossAtBestAccuracy: s.lossAtBest, bestStep: s.bestStep, steps: s.adam.step,
        stopReason, memory: s.bestMem ?? Float32Array.from(s.mem), embedDim: d,
        seconds: (performance.now() - s.start) / 1000, trajectory: s.trajectory, vectorTrajectory: s.vectorTrajectory,
      };
      slots.splice(slots.indexOf(s), 1);
      finished++;
      await hooks.onFinish?.(outcome);
    }
  };

  const lowWater = () => Math.max(1, Math.floor(settings.maxBatch / 4));
  while (pending.length > 0 || lanes.length > 0) {
    if (hooks.shouldStop?.()) return;
    // Open the next group when there is none, or when the open ones have run low on texts.
    const open = lanes.reduce((a, l) => a + l.live, 0);
    if (pending.length > 0 && (lanes.length === 0 || (lanes.length < 2 && open <= lowWater()))) lanes.push(pending.shift()!);
    for (const lane of lanes) {
      if (hooks.shouldStop?.()) return;
      await admit(lane);
      if (lane.slots.length > 0) await stepLane(lane);
    }
    for (let i = lanes.length - 1; i >= 0; i--) if (lanes[i].live === 0) lanes.splice(i, 1);
    const active = lanes.flatMap((l) => l.slots);
    hooks.onStep?.({
      active: active.length, queued: lanes.reduce((a, l) => a + l.queue.length, 0) + pending.reduce((a, l) => a + l.queue.length, 0),
      finished, total: jobs.length, stepsDone,
      meanAccuracy: active.length ? active.reduce((a, s) => a + s.lastAccuracy, 0) / active.length : 1,
    });
    // Yield to the event loop so progress output and signals get through.
    if (stepsDone % 8 === 0) await new Promise((r) => setImmediate(r));
  }
}

/** Convenience: one text, one outcome. */
export async function cramOne(engine: CompiledModel, job: CramJob, settings: CramSettings = PAPER_SETTINGS, onStep?: (p: CramProgress) => void): Promise<CramOutcome> {
  let out: CramOutcome | null = null;
  await cramAll(engine, [job], settings, { onFinish: (o) => { out = o; }, onStep });
  return out!;
}

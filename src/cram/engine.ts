/**
 * The batched cramming engine. Many texts are optimised in one forward/backward pass, each with its own [mem]
 * vectors and AdamW state; a text that finishes (accuracy 1.0, patience, or step limit) leaves the batch and the
 * next queued text with the same number of vectors takes its slot ("continuous batching" of optimisation problems).
 * Texts of different lengths are right-padded; the batch is bounded by texts and by tokens.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '../models/causal-lm.ts';
import { adamwStep, PAPER_ADAMW, type AdamWSettings } from './adamw.ts';
import { initMemory } from './init.ts';
import { memObjective, memObjectiveAndGrad, padIds } from './objective.ts';

export interface CramJob {
  /** Unique key; also names the job's random stream, so its start does not depend on its batch-mates. */
  key: string;
  /** Token ids of the text (BOS included where the tokenizer adds one); N = ids.length ≥ 2. */
  ids: number[];
  nMem: number;
  /** Seed string for the initial vectors (default: the key). */
  seed?: string;
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

export type StopReason = 'solved' | 'patience' | 'max_steps';

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
  mem: tf.Tensor3D; // [1, K, d]
  m: tf.Tensor3D;
  v: tf.Tensor3D;
  step: number;
  best: number;
  bestMem: tf.Tensor3D | null;
  bestStep: number;
  lossAtBest: number;
  minLoss: number;
  sinceImprove: number;
  originalLoss: number;
  originalAccuracy: number;
  start: number;
  lastAccuracy: number;
  trajectory?: { loss: number[]; accuracy: number[] };
}

export interface CramHooks {
  onFinish?: (o: CramOutcome) => void | Promise<void>;
  onStep?: (p: CramProgress) => void;
  /** Checked between steps; when true, the run stops and unfinished texts are dropped (nothing is emitted for them). */
  shouldStop?: () => boolean;
}

/** No-mem loss and accuracy for texts, batched. */
export async function baseline(model: CausalLM, texts: number[][]): Promise<{ loss: number; accuracy: number }[]> {
  const lengths = texts.map((t) => t.length);
  const stats = tf.tidy(() => {
    const r = memObjective(model, null, padIds(texts), lengths);
    return tf.stack([r.loss, r.correct]);
  });
  const v = await stats.data();
  stats.dispose();
  return lengths.map((n, i) => ({ loss: v[i], accuracy: v[texts.length + i] / (n - 1) }));
}

/** Optimises every job; outcomes are emitted through hooks.onFinish as texts finish. */
export async function cramAll(model: CausalLM, jobs: CramJob[], settings: CramSettings = PAPER_SETTINGS, hooks: CramHooks = {}): Promise<void> {
  const d = model.embedDim;
  const std = model.embeddingStd();
  for (const j of jobs) {
    if (j.ids.length < 2) throw new Error(`text ${j.key} has ${j.ids.length} token(s); at least 2 are needed`);
    if (j.nMem + j.ids.length > model.maxPositions) throw new Error(`text ${j.key}: ${j.nMem} vectors + ${j.ids.length} tokens exceed the model's ${model.maxPositions} positions`);
  }
  // One K at a time: rows of a batch share the [B, K, d] shape.
  const byK = new Map<number, CramJob[]>();
  for (const j of jobs) byK.set(j.nMem, [...(byK.get(j.nMem) ?? []), j]);
  let finished = 0;
  let stepsDone = 0;
  for (const [K, group] of byK) {
    const queue = [...group];
    const slots: Slot[] = [];
    let idsTensor: tf.Tensor2D | null = null;
    const fits = (n: number) => slots.length < settings.maxBatch &&
      (K + Math.max(n, ...slots.map((s) => s.n))) * (slots.length + 1) <= Math.max(settings.maxBatchTokens, K + n);
    try {
      while (queue.length > 0 || slots.length > 0) {
        if (hooks.shouldStop?.()) return;
        // Admit queued texts while they fit; the first always fits an empty batch.
        const admitted: CramJob[] = [];
        while (queue.length > 0 && (slots.length === 0 || fits(queue[0].ids.length))) {
          const job = queue.shift()!;
          admitted.push(job);
          const init = initMemory(K, d, std, job.seed ?? job.key);
          slots.push({
            job, n: job.ids.length, mem: tf.keep(tf.tensor3d(init, [1, K, d])), m: tf.keep(tf.zeros([1, K, d])), v: tf.keep(tf.zeros([1, K, d])),
            step: 0, best: -1, bestMem: null, bestStep: 0, lossAtBest: Infinity, minLoss: Infinity, sinceImprove: 0,
            originalLoss: NaN, originalAccuracy: NaN, start: performance.now(), lastAccuracy: 0,
            trajectory: settings.recordTrajectory ? { loss: [], accuracy: [] } : undefined,
          });
        }
        if (admitted.length > 0) {
          const base = await baseline(model, admitted.map((j) => j.ids));
          admitted.forEach((j, i) => {
            const s = slots.find((x) => x.job === j)!;
            s.originalLoss = base[i].loss;
            s.originalAccuracy = base[i].accuracy;
          });
          idsTensor?.dispose();
          idsTensor = tf.keep(padIds(slots.map((s) => s.job.ids)));
        }
        const lengths = slots.map((s) => s.n);
        // One forward/backward for the whole batch, then one AdamW update with per-row step counts.
        const { statsT, nextMem, nextM, nextV } = tf.tidy(() => {
          const mem = tf.concat(slots.map((s) => s.mem), 0) as tf.Tensor3D;
          const r = memObjectiveAndGrad(model, mem, idsTensor!, lengths);
          const upd = adamwStep(settings.optimizer, mem, r.grad,
            { m: tf.concat(slots.map((s) => s.m), 0), v: tf.concat(slots.map((s) => s.v), 0) }, slots.map((s) => s.step + 1));
          const split = (t: tf.Tensor) => tf.split(t, slots.length, 0).map((x) => tf.keep(x as tf.Tensor3D));
          return { statsT: tf.keep(tf.stack([r.loss, r.correct])), nextMem: split(upd.params), nextM: split(upd.state.m), nextV: split(upd.state.v) };
        });
        // The single readback per step (what early stopping needs); async, as WebGPU in Node requires.
        const stats = await statsT.data();
        statsT.dispose();
        stepsDone++;
        const B = slots.length;
        const done: Slot[] = [];
        slots.forEach((s, b) => {
          const loss = stats[b];
          const acc = stats[B + b] / (s.n - 1);
          s.step++;
          s.lastAccuracy = acc;
          s.trajectory?.loss.push(loss);
          s.trajectory?.accuracy.push(acc);
          if (loss < s.minLoss) s.minLoss = loss;
          if (acc > s.best) {
            // Keep the vectors this accuracy was measured with (pre-update), not the updated ones.
            s.bestMem?.dispose();
            s.bestMem = s.mem;
            s.best = acc;
            s.bestStep = s.step;
            s.lossAtBest = loss;
            s.sinceImprove = 0;
          } else {
            s.mem.dispose();
            s.sinceImprove++;
          }
          s.m.dispose();
          s.v.dispose();
          s.mem = nextMem[b];
          s.m = nextM[b];
          s.v = nextV[b];
          if (stats[B + b] === s.n - 1 || s.sinceImprove >= settings.patience || s.step >= settings.maxSteps) done.push(s);
        });
        for (const s of done) {
          const stopReason: StopReason = s.best === 1 ? 'solved' : s.step >= settings.maxSteps ? 'max_steps' : 'patience';
          const outcome: CramOutcome = {
            key: s.job.key, nTokens: s.n, nMem: K, originalLoss: s.originalLoss, originalAccuracy: s.originalAccuracy,
            bestAccuracy: s.best, bestLoss: s.minLoss, lossAtBestAccuracy: s.lossAtBest, bestStep: s.bestStep, steps: s.step,
            stopReason, memory: Float32Array.from(await s.bestMem!.data()), embedDim: d,
            seconds: (performance.now() - s.start) / 1000, trajectory: s.trajectory,
          };
          tf.dispose([s.mem, s.m, s.v, s.bestMem!]);
          slots.splice(slots.indexOf(s), 1);
          finished++;
          await hooks.onFinish?.(outcome);
        }
        if (done.length > 0 && slots.length > 0) {
          idsTensor?.dispose();
          idsTensor = tf.keep(padIds(slots.map((s) => s.job.ids)));
        }
        hooks.onStep?.({
          active: slots.length, queued: queue.length, finished, total: jobs.length, stepsDone,
          meanAccuracy: slots.length ? slots.reduce((a, s) => a + s.lastAccuracy, 0) / slots.length : 1,
        });
        // Yield to the event loop so progress output and signals get through.
        if (stepsDone % 8 === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      idsTensor?.dispose();
      for (const s of slots) tf.dispose([s.mem, s.m, s.v, ...(s.bestMem && s.bestMem !== s.mem ? [s.bestMem] : [])]);
    }
  }
}

/** Convenience: one text, one outcome. */
export async function cramOne(model: CausalLM, job: CramJob, settings: CramSettings = PAPER_SETTINGS, onStep?: (p: CramProgress) => void): Promise<CramOutcome> {
  let out: CramOutcome | null = null;
  await cramAll(model, [job], settings, { onFinish: (o) => { out = o; }, onStep });
  return out!;
}

/**
 * One-step generation (Mezentsev & Oseledets, EMNLP 2025): per text, a vector e and a second vector m are trained so
 * that the frozen model, reading [e, m, m, …, m], predicts the text's tokens at every position in one forward pass
 * (objective.ts, buildOneStepGraph). m is either the text's own or shared by a group of texts: a shared m has one AdamW
 * state and is updated with the sum of its texts' gradients (the gradient of the sum of their mean losses); each e has
 * its own state. AdamW as in the paper (src/cram/adamw.ts).
 *
 * A group (one text, or the texts sharing an m) is one optimisation problem, with the paper's stop rules on the mean
 * accuracy of its texts: stop when every text's predictions are all right at the same step, after `patience` steps
 * without a strict improvement of the best mean accuracy, or at `maxSteps`. The vectors kept are the ones the best mean
 * accuracy was measured with (before that step's update), and each text's recorded accuracy is its accuracy there, so
 * re-evaluating the kept vectors gives it back. Groups are batched like cramAll's texts: many in one pass, finished
 * groups make room for queued ones, rows right-padded to the longest target.
 */
import { adamwState, adamwUpdate, type AdamWState } from './adamw.ts';
import type { CompiledModel } from './compiled-model.ts';
import { PAPER_SETTINGS, type CramSettings } from './cram.ts';
import { initMemory } from './init.ts';

export interface OneStepJob {
  key: string;
  /** The tokens to produce, in order (P ≥ 1). */
  targets: number[];
  /** Seed of e (default: the key). */
  seed?: string;
  /** Texts with the same group share one m (seeded by the group name); absent: the text has its own m. */
  group?: string;
}

/**
 * The autoregressive engine's settings, read the same way; here `maxBatch` texts and `maxBatchTokens` positions
 * (P_max × texts) bound one forward pass, and a shared-m group is never split (a larger group runs alone).
 */
export type OneStepSettings = CramSettings;

export const ONE_STEP_DEFAULTS: OneStepSettings = PAPER_SETTINGS;

export type OneStepStop = 'solved' | 'patience' | 'max_steps' | 'diverged';

export interface OneStepOutcome {
  key: string;
  group: string | null;
  groupSize: number;
  nTargets: number;
  /** Accuracy of this text's predictions with the kept vectors (at the group's best step). */
  bestAccuracy: number;
  /** Loss there (mean CE over the text's targets, nats). */
  lossAtBestAccuracy: number;
  /** Lowest loss of this text over the steps. */
  bestLoss: number;
  /** 1-based step of the kept vectors. */
  bestStep: number;
  steps: number;
  stopReason: OneStepStop;
  /** Kept vectors, [d] each (m is the group's when shared). */
  e: Float32Array;
  m: Float32Array;
  embedDim: number;
  seconds: number;
  trajectory?: { loss: number[]; accuracy: number[] };
}

export interface OneStepProgress {
  active: number;
  queued: number;
  finished: number;
  total: number;
  meanAccuracy: number;
  stepsDone: number;
}

export interface OneStepHooks {
  onFinish?: (o: OneStepOutcome) => void | Promise<void>;
  onStep?: (p: OneStepProgress) => void;
  shouldStop?: () => boolean;
}

interface Member {
  job: OneStepJob;
  e: Float32Array;
  adam: AdamWState;
  lastLoss: number;
  lastAccuracy: number;
  minLoss: number;
  keptE: Float32Array | null;
  keptAccuracy: number;
  keptLoss: number;
  trajectory?: { loss: number[]; accuracy: number[] };
}

interface Group {
  name: string | null;
  members: Member[];
  m: Float32Array;
  adam: AdamWState;
  best: number;
  keptM: Float32Array | null;
  bestStep: number;
  sinceImprove: number;
  steps: number;
  start: number;
  diverged: boolean;
}

/** Optimises every job; outcomes are emitted through hooks.onFinish, a group's texts together when it finishes. */
export async function oneStepAll(engine: CompiledModel, jobs: OneStepJob[], settings: OneStepSettings = ONE_STEP_DEFAULTS, hooks: OneStepHooks = {}): Promise<void> {
  const model = engine.model;
  const d = model.embedDim;
  for (const j of jobs) if (j.targets.length < 1) throw new Error(`text ${j.key}: one-step needs at least one target token`);
  // Groups in order of first appearance; a text without a group is its own.
  const order: { name: string | null; jobs: OneStepJob[] }[] = [];
  const named = new Map<string, OneStepJob[]>();
  for (const j of jobs) {
    if (j.group === undefined) order.push({ name: null, jobs: [j] });
    else if (named.has(j.group)) named.get(j.group)!.push(j);
    else { const list = [j]; named.set(j.group, list); order.push({ name: j.group, jobs: list }); }
  }
  if (jobs.length > 0) {
    const longest = Math.max(...jobs.map((j) => j.targets.length));
    engine.checkFits({ maxTokens: longest, tokensFrom: `the longest target (${longest} positions)`, batchTokens: Math.max(longest, Math.min(settings.maxBatchTokens, settings.maxBatch * longest)) });
  }
  const std = jobs.length > 0 ? model.embeddingStd() : 0;
  const queue = [...order];
  const active: Group[] = [];
  let finished = 0;
  let stepsDone = 0;
  const rows = () => active.reduce((a, g) => a + g.members.length, 0);
  const longestIn = (gs: Group[]) => Math.max(0, ...gs.flatMap((g) => g.members.map((x) => x.job.targets.length)));

  const admit = () => {
    while (queue.length > 0) {
      const next = queue[0];
      const n = rows() + next.jobs.length;
      const longest = Math.max(longestIn(active), ...next.jobs.map((j) => j.targets.length));
      if (active.length > 0 && (n > settings.maxBatch || n * longest > settings.maxBatchTokens)) break;
      queue.shift();
      const first = next.jobs[0];
      active.push({
        name: next.name,
        members: next.jobs.map((job) => ({
          job, e: initMemory(1, d, std, `${job.seed ?? job.key}|e`), adam: adamwState(d), lastLoss: NaN, lastAccuracy: 0, minLoss: Infinity,
          keptE: null, keptAccuracy: 0, keptLoss: Infinity, trajectory: settings.recordTrajectory ? { loss: [], accuracy: [] } : undefined,
        })),
        m: initMemory(1, d, std, next.name !== null ? `${next.name}|m` : `${first.seed ?? first.key}|m`), adam: adamwState(d),
        best: -1, keptM: null, bestStep: 0, sinceImprove: 0, steps: 0, start: performance.now(), diverged: false,
      });
    }
  };

  const step = async () => {
    const members = active.flatMap((g) => g.members.map((x) => ({ g, x })));
    const B = members.length;
    const e = new Float32Array(B * d);
    const m = new Float32Array(B * d);
    members.forEach(({ g, x }, b) => { e.set(x.e, b * d); m.set(g.m, b * d); });
    const r = await engine.oneStep(e, m, members.map(({ x }) => x.job.targets), true);
    stepsDone++;
    const sumM = new Map<Group, Float32Array>();
    members.forEach(({ g, x }, b) => {
      x.lastLoss = r.loss[b];
      x.lastAccuracy = r.correct[b] / x.job.targets.length;
      x.trajectory?.loss.push(x.lastLoss);
      x.trajectory?.accuracy.push(x.lastAccuracy);
      if (!Number.isFinite(x.lastLoss)) g.diverged = true;
      if (x.lastLoss < x.minLoss) x.minLoss = x.lastLoss;
      const acc = sumM.get(g) ?? new Float32Array(d);
      for (let i = 0; i < d; i++) acc[i] += r.gradM![b * d + i];
      sumM.set(g, acc);
    });
    const done: Group[] = [];
    for (const g of active) {
      g.steps++;
      if (g.diverged) { done.push(g); continue; }
      const mean = g.members.reduce((a, x) => a + x.lastAccuracy, 0) / g.members.length;
      if (mean > g.best) {
        // Keep the vectors this accuracy was measured with (before the update below).
        g.best = mean;
        g.bestStep = g.steps;
        g.keptM = Float32Array.from(g.m);
        g.sinceImprove = 0;
        for (const x of g.members) { x.keptE = Float32Array.from(x.e); x.keptAccuracy = x.lastAccuracy; x.keptLoss = x.lastLoss; }
      } else {
        g.sinceImprove++;
      }
      const solved = g.members.every((x) => x.lastAccuracy === 1);
      for (const x of g.members) {
        const b = members.findIndex((y) => y.x === x);
        adamwUpdate(settings.optimizer, x.e, r.gradE!, x.adam, b * d);
      }
      adamwUpdate(settings.optimizer, g.m, sumM.get(g)!, g.adam);
      if (solved || g.sinceImprove >= settings.patience || g.steps >= settings.maxSteps) done.push(g);
    }
    for (const g of done) {
      const solved = g.best === 1;
      const stopReason: OneStepStop = g.diverged ? 'diverged' : solved ? 'solved' : g.steps >= settings.maxSteps ? 'max_steps' : 'patience';
      active.splice(active.indexOf(g), 1);
      const seconds = (performance.now() - g.start) / 1000;
      for (const x of g.members) {
        finished++;
        await hooks.onFinish?.({
          key: x.job.key, group: g.name, groupSize: g.members.length, nTargets: x.job.targets.length,
          bestAccuracy: x.keptE ? x.keptAccuracy : 0, lossAtBestAccuracy: x.keptLoss, bestLoss: x.minLoss, bestStep: g.bestStep, steps: g.steps,
          stopReason, e: x.keptE ?? Float32Array.from(x.e), m: g.keptM ?? Float32Array.from(g.m), embedDim: d, seconds, trajectory: x.trajectory,
        });
      }
    }
  };

  while (queue.length > 0 || active.length > 0) {
    if (hooks.shouldStop?.()) return;
    admit();
    await step();
    hooks.onStep?.({
      active: rows(), queued: queue.reduce((a, q) => a + q.jobs.length, 0), finished, total: jobs.length, stepsDone,
      meanAccuracy: rows() ? active.reduce((a, g) => a + g.members.reduce((s, x) => s + x.lastAccuracy, 0), 0) / rows() : 1,
    });
    if (stepsDone % 8 === 0) await new Promise((r) => setImmediate(r));
  }
}

/** Accuracy and loss of kept (e, m) pairs on their targets, batched (re-evaluation). */
export async function evaluateOneStep(engine: CompiledModel, items: { e: Float32Array; m: Float32Array; targets: number[] }[]): Promise<{ loss: number; accuracy: number }[]> {
  const d = engine.embedDim;
  const e = new Float32Array(items.length * d);
  const m = new Float32Array(items.length * d);
  items.forEach((it, b) => { e.set(it.e, b * d); m.set(it.m, b * d); });
  const r = await engine.oneStep(e, m, items.map((it) => it.targets), false);
  return items.map((it, b) => ({ loss: r.loss[b], accuracy: r.correct[b] / it.targets.length }));
}

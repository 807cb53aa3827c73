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
 * re-evaluating the kept vectors gives it back. Groups run on the shared loop (batch-loop.ts) like cramAll's texts:
 * many in one pass, finished groups make room for queued ones, rows right-padded to the longest target; a group is one
 * job of the loop, with as many rows as texts. This file is only what a group is and what one step does to it.
 */
import { adamwState, adamwUpdate, type AdamWState } from './adamw.ts';
import { runBatched, type Hooks, type Method } from './batch-loop.ts';
import { BestSoFar, type StopReason } from './best.ts';
import type { CompiledModel } from './compiled-model.ts';
import { PAPER_SETTINGS, type CramProgress, type CramSettings } from './cram.ts';
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
 * The autoregressive method's settings, read the same way; here `maxBatch` texts and `maxBatchTokens` positions
 * (P_max × texts) bound one forward pass, and a shared-m group is never split (a larger group runs alone).
 */
export type OneStepSettings = CramSettings;

export const ONE_STEP_DEFAULTS: OneStepSettings = PAPER_SETTINGS;

/** The same stop reasons as the autoregressive method's (best.ts). */
export type OneStepStop = StopReason;

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

/** Counts in texts; the mean accuracy of the texts in the batch. */
export type OneStepProgress = CramProgress;

export type OneStepHooks = Hooks<OneStepOutcome, OneStepProgress>;

interface Member {
  job: OneStepJob;
  e: Float32Array;
  adam: AdamWState;
  lastLoss: number;
  lastAccuracy: number;
  minLoss: number;
  trajectory?: { loss: number[]; accuracy: number[] };
}

/** A group's texts in order of first appearance; a text without a group is its own (name null). */
interface GroupJob {
  name: string | null;
  jobs: OneStepJob[];
}

/** What the best mean accuracy was measured with (before that step's update): m, and per member e, accuracy, loss. */
interface Kept {
  m: Float32Array;
  e: Float32Array[];
  accuracy: number[];
  loss: number[];
}

interface Group {
  job: GroupJob;
  members: Member[];
  m: Float32Array;
  adam: AdamWState;
  best: BestSoFar<Kept>;
  steps: number;
  start: number;
  diverged: boolean;
  stop: OneStepStop | null;
}

/** The one-step method: one loop job per group (its texts are its rows), one lane, positions = targets. */
function oneStep(d: number, std: number, settings: OneStepSettings): Method<GroupJob, Group, OneStepOutcome> {
  return {
    lane: () => 1,
    texts: (g) => g.jobs.length,
    positions: (g) => Math.max(...g.jobs.map((j) => j.targets.length)),
    async start(_model, _K, groups) {
      return groups.map((next): Group => {
        const first = next.jobs[0];
        return {
          job: next,
          members: next.jobs.map((job) => ({
            job,
            e: initMemory(1, d, std, `${job.seed ?? job.key}|e`),
            adam: adamwState(d),
            lastLoss: NaN,
            lastAccuracy: 0,
            minLoss: Infinity,
            trajectory: settings.recordTrajectory ? { loss: [], accuracy: [] } : undefined,
          })),
          m: initMemory(1, d, std, next.name !== null ? `${next.name}|m` : `${first.seed ?? first.key}|m`),
          adam: adamwState(d),
          best: new BestSoFar(),
          steps: 0,
          start: performance.now(),
          diverged: false,
          stop: null,
        };
      });
    },
    async step(model, _K, groups) {
      const members = groups.flatMap((g) => g.members.map((x) => ({ g, x })));
      const B = members.length;
      const e = new Float32Array(B * d);
      const m = new Float32Array(B * d);
      members.forEach(({ g, x }, b) => {
        e.set(x.e, b * d);
        m.set(g.m, b * d);
      });
      const r = await model.oneStep(
        e,
        m,
        members.map(({ x }) => x.job.targets),
        true,
      );
      // A shared m is updated with the sum of its texts' gradients.
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
      let b = 0;
      for (const g of groups) {
        g.steps++;
        if (g.diverged) {
          g.stop = 'diverged';
          b += g.members.length;
          continue;
        }
        const mean = g.members.reduce((a, x) => a + x.lastAccuracy, 0) / g.members.length;
        g.best.observe(mean, g.steps, () => ({
          m: Float32Array.from(g.m),
          e: g.members.map((x) => Float32Array.from(x.e)),
          accuracy: g.members.map((x) => x.lastAccuracy),
          loss: g.members.map((x) => x.lastLoss),
        }));
        const solved = g.members.every((x) => x.lastAccuracy === 1);
        for (const x of g.members) adamwUpdate(settings.optimizer, x.e, r.gradE!, x.adam, b++ * d);
        adamwUpdate(settings.optimizer, g.m, sumM.get(g)!, g.adam);
        g.stop = g.best.stop(settings, g.steps, solved);
      }
    },
    finished: (g) => g.stop !== null,
    outcomes(_model, _K, g) {
      const seconds = (performance.now() - g.start) / 1000;
      const kept = g.best.kept;
      return g.members.map((x, i) => ({
        key: x.job.key,
        group: g.job.name,
        groupSize: g.members.length,
        nTargets: x.job.targets.length,
        bestAccuracy: kept ? kept.accuracy[i] : 0,
        lossAtBestAccuracy: kept ? kept.loss[i] : Infinity,
        bestLoss: x.minLoss,
        bestStep: g.best.step,
        steps: g.steps,
        stopReason: g.stop!,
        e: kept ? kept.e[i] : Float32Array.from(x.e),
        m: kept ? kept.m : Float32Array.from(g.m),
        embedDim: d,
        seconds,
        trajectory: x.trajectory,
      }));
    },
  };
}

/** Optimises every job; outcomes are emitted through hooks.onFinish, a group's texts together when it finishes. */
export async function oneStepAll(
  model: CompiledModel,
  jobs: OneStepJob[],
  settings: OneStepSettings = ONE_STEP_DEFAULTS,
  hooks: OneStepHooks = {},
): Promise<void> {
  const d = model.embedDim;
  for (const j of jobs)
    if (j.targets.length < 1) throw new Error(`text ${j.key}: one-step needs at least one target token`);
  // Groups in order of first appearance; a text without a group is its own.
  const order: GroupJob[] = [];
  const named = new Map<string, OneStepJob[]>();
  for (const j of jobs) {
    if (j.group === undefined) order.push({ name: null, jobs: [j] });
    else if (named.has(j.group)) named.get(j.group)!.push(j);
    else {
      const list = [j];
      named.set(j.group, list);
      order.push({ name: j.group, jobs: list });
    }
  }
  if (jobs.length > 0) {
    const longest = Math.max(...jobs.map((j) => j.targets.length));
    model.checkFits({
      maxTokens: longest,
      tokensFrom: `the longest target (${longest} positions)`,
      batchTokens: Math.max(longest, Math.min(settings.maxBatchTokens, settings.maxBatch * longest)),
    });
  }
  const std = jobs.length > 0 ? model.model.embeddingStd() : 0;
  await runBatched(model, order, oneStep(d, std, settings), settings, {
    onFinish: hooks.onFinish,
    shouldStop: hooks.shouldStop,
    onStep:
      hooks.onStep &&
      ((p, active) => {
        const sum = active.reduce((a, g) => a + g.members.reduce((s, x) => s + x.lastAccuracy, 0), 0);
        hooks.onStep!({ ...p, meanAccuracy: p.active ? sum / p.active : 1 });
      }),
  });
}

/** Accuracy and loss of kept (e, m) pairs on their targets, batched (re-evaluation). */
export async function evaluateOneStep(
  model: CompiledModel,
  items: { e: Float32Array; m: Float32Array; targets: number[] }[],
): Promise<{ loss: number; accuracy: number }[]> {
  const d = model.embedDim;
  const e = new Float32Array(items.length * d);
  const m = new Float32Array(items.length * d);
  items.forEach((it, b) => {
    e.set(it.e, b * d);
    m.set(it.m, b * d);
  });
  const r = await model.oneStep(
    e,
    m,
    items.map((it) => it.targets),
    false,
  );
  return items.map((it, b) => ({ loss: r.loss[b], accuracy: r.correct[b] / it.targets.length }));
}

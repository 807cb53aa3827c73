/**
 * A text "compressor" built on cramming: the text's tokens are split into segments, each segment is crammed into
 * its own K trained vectors (all segments optimised together in one batch), and the vectors are kept in a `.mem`
 * file. Decompression regenerates each segment greedily from its vectors and checks the result's SHA-256.
 *
 * Segment i's ids are [given, t_a … t_b]: the given first token is BOS where the tokenizer uses one (so every segment
 * is an independent cramming problem and every text token is predicted); for tokenizers without BOS it is the token
 * just before the segment (the text's first token, stored in the file, for segment 0).
 */
import type { LoadedModel } from '../models/load.ts';
import { openModel, type CompiledModel } from '../cram/compiled-model.ts';
import type { InputPart } from '../cram/generate.ts';
import { cramAll, type CramJob, type CramOutcome } from '../cram/cram.ts';
import type { AdamWState } from '../cram/adamw.ts';
import {
  progressiveAll,
  PROGRESSIVE_DEFAULTS,
  type ProgressiveJob,
  type ProgressiveOutcome,
} from '../cram/progressive.ts';
import { escalate, MIN_TOKENS_PER_VECTOR } from './escalate.ts';
import { cramFields, cramSettings } from '../config/settings.ts';
import { DEFAULTS, VECTORS_PER_TOKEN_CAP } from './defaults.ts';
import { greedyGenerate } from '../cram/generate.ts';
import { regenerate } from '../cram/regenerate.ts';
import { idsSha256, sha256 } from '../cram/vector-file.ts';
import { identityMismatch } from './file-model.ts';
import {
  MEMORY_FORMAT,
  MEMORY_FORMAT_VERSION,
  totalVectors,
  validateForModel,
  validateMemoryFile,
  type MemoryFile,
  type MemorySegment,
} from './memory-file.ts';

/** Measured on gutenberg-llama-s (natural text, accuracy 1.0 + exact greedy regeneration): see docs/compressor.md. */

export class CompressError extends Error {}

export interface CompressProgress {
  phase: 'cram' | 'verify';
  /** 1-based: round r optimises the segments not yet exact, with K grown after each round. */
  round: number;
  segments: number;
  /** Segments reproduced exactly so far. */
  exact: number;
  /** Segments still optimising in this round (verify phase: segments being checked). */
  active: number;
  /** Segments of this round that have stopped optimising (solved or given up). */
  finished: number;
  /** Distinct K values of this round. */
  kValues: number[];
  /** Batched steps done in this round. */
  stepsDone: number;
  /** Mean teacher-forced accuracy of the segments still in the batch. */
  meanAccuracy: number;
}

/** A model opened on a backend (openModel). */
export type OpenModel = LoadedModel & { compiled: CompiledModel };

export interface ModelOption {
  /** An opened model, or a bundled name / folder (opened here on the 'auto' backend). */
  model: OpenModel | string;
}

export interface CompressOptions extends ModelOption {
  /** Predicted tokens per segment (the last segments may be one shorter: lengths are balanced). */
  segmentTokens?: number;
  /** Starting K per segment = ceil(tokens / tokensPerVector). */
  tokensPerVector?: number;
  /** Optimisation steps per round at most (a segment's first try; escalated up to maxStepsCeiling). */
  maxSteps?: number;
  /**
   * Escalation ceiling: a segment whose round ended at its step limit still improving gets twice the steps (same K,
   * same start) before it gets more vectors, up to this many steps per round. Default 4 × maxSteps.
   */
  maxStepsCeiling?: number;
  /** Stop a segment after this many steps without a better accuracy (then its K grows). */
  patience?: number;
  /** K of a failed segment is multiplied by this (at least +1) for the next round. */
  growth?: number;
  /**
   * Largest K tried per segment, or for a text crammed as one sequence (default: VECTORS_PER_TOKEN_CAP × its tokens);
   * capped by the model's positions.
   */
  maxMem?: number;
  lr?: number;
  seed?: number;
  /**
   * Cram a text that is one segment (segmentTokens ≥ its tokens) by progressive growth: the target is its first
   * tokens, then `stageTokens` more per passed stage, the vectors warm-started from one stage into the next; each
   * stage gets `maxSteps` passes (and once more after an optimizer restart), escalated ×2 up to maxStepsCeiling, then
   * more vectors (K × growth, the vectors so far kept). The memory service's default; see docs/compressor.md.
   */
  progressive?: boolean;
  /** Progressive growth: tokens added per passed stage (also the first stage's length). */
  stageTokens?: number;
  onProgress?: (p: CompressProgress) => void;
}

export async function resolveModel(m: OpenModel | string): Promise<OpenModel> {
  if (typeof m !== 'string') return m;
  return openModel(m);
}

function tokenizerOf(loaded: LoadedModel) {
  if (!loaded.tokenizer) throw new CompressError(`model ${loaded.name} was loaded without its tokenizer`);
  return loaded.tokenizer;
}

/** Splits n items into ceil(n / size) runs whose lengths differ by at most one. */
function balancedLengths(n: number, size: number): number[] {
  if (n === 0) return [];
  const count = Math.ceil(n / size);
  const base = Math.floor(n / count);
  return Array.from({ length: count }, (_, i) => base + (i < n % count ? 1 : 0));
}

interface Plan {
  /** Text tokens, BOS not included. */
  textIds: number[];
  bos: number | null;
  segments: { ids: number[]; start: number }[];
}

function plan(ids: number[], bos: number | null, segmentTokens: number): Plan {
  const textIds = bos !== null && ids[0] === bos ? ids.slice(1) : ids;
  const useBos = bos !== null && ids[0] === bos;
  // Predicted stream: all text tokens with BOS; all but the first without.
  const predicted = useBos ? textIds : textIds.slice(1);
  const segments: Plan['segments'] = [];
  let pos = 0;
  for (const len of balancedLengths(predicted.length, segmentTokens)) {
    const given = useBos ? bos! : pos === 0 ? textIds[0] : predicted[pos - 1];
    segments.push({ ids: [given, ...predicted.slice(pos, pos + len)], start: pos });
    pos += len;
  }
  return { textIds, bos: useBos ? bos : null, segments };
}

function snippet(s: string, n = 40): string {
  const one = s.replace(/\s+/g, ' ');
  return JSON.stringify(one.length > n ? `${one.slice(0, n)}…` : one);
}

/** Compresses a text into a MemoryFile; throws CompressError when a segment cannot be reproduced exactly. */
export async function compress(text: string, options: CompressOptions): Promise<MemoryFile> {
  const { onProgress, ...rest } = options;
  const [r] = await compressMany([text], { ...rest, onProgress: onProgress && ((_, p) => onProgress(p)) });
  if (!r.ok) throw r.error;
  return r.file;
}

/** One text's outcome in compressMany: its file, or why it could not be compressed. */
export type CompressResult = { ok: true; file: MemoryFile } | { ok: false; error: CompressError };

/**
 * Where a text's compression stands after a round: the segments reproduced exactly (their vectors) and the K each
 * other segment goes on with. Given back as `resume`, compression goes on from there instead of from the start.
 */
export interface CompressCheckpoint {
  /** idsSha256 of the text's tokens and the segment length: a checkpoint is used only for the same plan. */
  planSha256: string;
  rounds: number;
  steps: number;
  kOf: number[];
  done: (Float32Array | null)[];
  /** Step limit per segment (escalated); absent: maxSteps for every segment. */
  stepsOf?: number[];
  /**
   * Progressive one-sequence compression: the vectors to go on from (K = kOf[0] of them), the prefix length they
   * reproduce exactly (`passed`, tokens with the first), the stage to start at, and the optimizer state after the
   * stage that passed (null: a fresh one, after an escalation).
   */
  warm?: { passed: number; start: number; vectors: Float32Array; adam: AdamWState | null };
}

/** One text for compressMany: the text, its seed (default: options.seed) and a checkpoint to resume from. */
export type CompressInput = string | { text: string; seed?: number; resume?: CompressCheckpoint | null };

/** compressMany stopped because `shouldStop` said so; no result was produced for the texts not yet done. */
export class CompressAborted extends CompressError {}

export interface CompressManyOptions extends Omit<CompressOptions, 'onProgress'> {
  /** Progress of text `index` (its own segment counts; stepsDone and meanAccuracy are the shared batch's). */
  onProgress?: (index: number, p: CompressProgress) => void;
  /** Called once per text as soon as it is done (every segment exact) or has failed, before compressMany returns. */
  onText?: (index: number, r: CompressResult) => void | Promise<void>;
  /** Checked between optimisation steps: when true, compressMany throws CompressAborted. */
  shouldStop?: () => boolean;
  /** Checked at each round's start: a text for which it is true is dropped (its result: a CompressError). */
  isCancelled?: (index: number) => boolean;
  /**
   * Called at each round's start: more texts to take into this run (indices go on after the ones given so far).
   * Each starts at its own first round, sharing the batches with the texts already running.
   */
  admit?: () => CompressInput[];
  /** After each round, for every text not finished yet: where it stands (save it to resume after a crash). */
  onCheckpoint?: (index: number, c: CompressCheckpoint) => void;
}

interface TextState {
  text: string;
  seed: number;
  plan: Plan | null;
  kOf: number[];
  stepsOf: number[];
  done: (Float32Array | null)[];
  pending: number[];
  rounds: number;
  steps: number;
  exact: number;
  result: CompressResult | null;
  /** When the text joined (performance.now()). */
  start: number;
  resume: CompressCheckpoint | null;
  /** Crammed as one sequence by progressive growth (options.progressive and one segment). */
  progressive: boolean;
  /** Progressive: where the next round starts (null: fresh vectors, the first stage). */
  warm: CompressCheckpoint['warm'] | null;
}

/**
 * Compresses several texts at once: in every round the not-yet-exact segments of all texts are optimised in one
 * `cramAll` run (shared batches), then each is checked by greedy regeneration; a text is finished as soon as all its
 * segments are exact. A text that cannot be compressed (tokenizer round trip, a segment not exact at the K limit)
 * fails alone: the others go on. Each segment's initial vectors come from its text's own seed, so a text gets the
 * same start whichever texts share its batch (the engine keeps batched trajectories equal to solo ones).
 */
export async function compressMany(texts: CompressInput[], options: CompressManyOptions): Promise<CompressResult[]> {
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as Required<Omit<CompressOptions, 'maxMem' | 'onProgress'>> & CompressManyOptions;
  for (const [k, v] of [
    ['segmentTokens', o.segmentTokens],
    ['maxSteps', o.maxSteps],
    ['patience', o.patience],
    ['stageTokens', o.stageTokens],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new CompressError(`${k} must be a positive integer, got ${v}`);
  }
  if (!(o.tokensPerVector > 0)) throw new CompressError(`tokensPerVector must be positive, got ${o.tokensPerVector}`);
  if (!(o.growth > 1)) throw new CompressError(`growth must be > 1, got ${o.growth}`);
  const t0 = performance.now();
  const loaded = await resolveModel(o.model);
  const tok = tokenizerOf(loaded);
  const model = loaded.model;
  /** Largest K for a text or segment of n ids (its tokens + 1): --max-mem, else VECTORS_PER_TOKEN_CAP × its tokens. */
  const maxMemCap = (n: number) =>
    Math.max(1, Math.min(o.maxMem ?? Math.max(n, VECTORS_PER_TOKEN_CAP * (n - 1)), model.maxPositions - n - 1));
  const stepsCeiling = o.maxStepsCeiling ?? 4 * o.maxSteps;
  if (!Number.isInteger(stepsCeiling) || stepsCeiling < o.maxSteps) {
    throw new CompressError(`maxStepsCeiling must be an integer ≥ maxSteps (${o.maxSteps}), got ${stepsCeiling}`);
  }
  const settingsFor = (maxSteps: number) =>
    cramSettings(
      cramFields({ max_steps: maxSteps, patience: o.patience, optimizer: { lr: o.lr } }, 'compress', {
        max_steps: 'maxSteps (--max-steps)',
        patience: 'patience (--patience)',
        'optimizer.lr': 'lr',
      }),
    );
  const settings = settingsFor(o.maxSteps);
  const newState = (t: CompressInput, start: number): TextState => {
    const { text, seed, resume } =
      typeof t === 'string'
        ? { text: t, seed: o.seed, resume: null }
        : { text: t.text, seed: t.seed ?? o.seed, resume: t.resume ?? null };
    return {
      text,
      seed,
      plan: null,
      kOf: [],
      stepsOf: [],
      done: [],
      pending: [],
      rounds: 0,
      steps: 0,
      exact: 0,
      result: null,
      start,
      resume,
      progressive: false,
      warm: null,
    };
  };
  const planSha = (st: TextState) =>
    st.progressive
      ? idsSha256([-2, o.stageTokens, ...st.plan!.segments[0].ids])
      : idsSha256([o.segmentTokens, ...st.plan!.segments.flatMap((s) => [-1, ...s.ids])]);
  const states: TextState[] = texts.map((t) => newState(t, t0));
  const finish = async (j: number, r: CompressResult) => {
    states[j].result = r;
    await o.onText?.(j, r);
  };
  const fileOf = (st: TextState): MemoryFile => {
    const p = st.plan!;
    const segments: MemorySegment[] = p.segments.map((s, i) => ({
      nMem: st.kOf[i],
      nTokens: s.ids.length - 1,
      idsSha256: idsSha256(s.ids),
      startsWithBos: p.bos !== null,
      firstToken: s.ids[0],
      vectors: st.done[i]!,
    }));
    const mf: MemoryFile = {
      format: MEMORY_FORMAT,
      version: MEMORY_FORMAT_VERSION,
      model: loaded.name,
      modelSha256: loaded.weightsSha256,
      tokenizerSha256: tok.fingerprint,
      embedDim: model.embedDim,
      nTokens: p.textIds.length,
      textChars: st.text.length,
      textSha256: sha256(st.text),
      segments,
      settings: {
        segment_tokens: o.segmentTokens,
        tokens_per_vector: o.tokensPerVector,
        max_steps: o.maxSteps,
        patience: o.patience,
        growth: o.growth,
        max_mem: o.maxMem ?? 'segment tokens',
        max_steps_ceiling: stepsCeiling,
        lr: o.lr,
        betas: `${settings.optimizer.beta1},${settings.optimizer.beta2}`,
        seed: st.seed,
        backend: loaded.compiled.runtime.name,
        ...(st.progressive ? { layout: 'one sequence, progressive', stage_tokens: o.stageTokens } : {}),
      },
      stats: {
        rounds: st.rounds,
        batched_steps: st.steps,
        seconds: Number(((performance.now() - st.start) / 1000).toFixed(2)),
        vectors: 0,
      },
      created: new Date().toISOString(),
    };
    mf.stats.vectors = totalVectors(mf);
    validateMemoryFile(mf);
    return mf;
  };

  /** Tokenizes and plans text j (or fails it when the tokenizer does not give it back). */
  const prepare = async (j: number) => {
    const st = states[j];
    const ids = tok.encode(st.text);
    const back = tok.decode(ids);
    if (back !== st.text) {
      let i = 0;
      while (i < back.length && i < st.text.length && back[i] === st.text[i]) i++;
      await finish(j, {
        ok: false,
        error: new CompressError(
          `the ${loaded.name} tokenizer does not reproduce this text exactly (decode(encode(text)) differs from char ${i}: ` +
            `${snippet(st.text.slice(i, i + 20))} became ${snippet(back.slice(i, i + 20))}); only texts the tokenizer round-trips can be compressed losslessly`,
        ),
      });
      return;
    }
    st.plan = plan(ids, tok.bosId, o.segmentTokens);
    st.kOf = st.plan.segments.map((s) =>
      Math.min(maxMemCap(s.ids.length), Math.max(1, Math.ceil((s.ids.length - 1) / o.tokensPerVector))),
    );
    st.done = new Array(st.plan.segments.length).fill(null);
    st.stepsOf = st.plan.segments.map(() => o.maxSteps);
    const r = st.resume;
    const d = model.embedDim;
    st.progressive = o.progressive && st.plan.segments.length === 1;
    if (st.progressive) {
      const n = st.plan.segments[0].ids.length;
      const w = r?.warm;
      const warmOk = (K: number) =>
        !w ||
        (w.vectors.length === K * d &&
          (w.adam === null || (w.adam.m.length === w.vectors.length && w.adam.v.length === w.vectors.length)) &&
          Number.isInteger(w.passed) &&
          w.passed >= 1 &&
          w.passed <= n &&
          Number.isInteger(w.start) &&
          w.start >= 2 &&
          w.start <= n);
      if (
        r &&
        r.planSha256 === planSha(st) &&
        r.kOf.length === 1 &&
        Number.isInteger(r.kOf[0]) &&
        r.kOf[0] >= 1 &&
        r.kOf[0] <= maxMemCap(n) &&
        warmOk(r.kOf[0]) &&
        r.stepsOf?.length === 1 &&
        Number.isInteger(r.stepsOf[0]) &&
        r.stepsOf[0] >= o.maxSteps &&
        r.stepsOf[0] <= stepsCeiling
      ) {
        st.kOf = [r.kOf[0]];
        st.stepsOf = [r.stepsOf[0]];
        st.warm = w ?? null;
        st.rounds = r.rounds;
        st.steps = r.steps;
      }
      st.resume = null;
      st.pending = [0];
      return;
    }
    if (
      r &&
      r.planSha256 === planSha(st) &&
      r.kOf.length === st.kOf.length &&
      r.done.length === st.kOf.length &&
      r.kOf.every(
        (k, i) =>
          Number.isInteger(k) &&
          k >= 1 &&
          k <= maxMemCap(st.plan!.segments[i].ids.length) &&
          (r.done[i] === null || r.done[i]!.length === k * d),
      )
    ) {
      st.kOf = [...r.kOf];
      st.done = [...r.done];
      if (
        r.stepsOf?.length === st.kOf.length &&
        r.stepsOf.every((n) => Number.isInteger(n) && n >= o.maxSteps && n <= stepsCeiling)
      )
        st.stepsOf = [...r.stepsOf];
      st.rounds = r.rounds;
      st.steps = r.steps;
      st.exact = st.done.filter((v) => v !== null).length;
    }
    st.resume = null;
    st.pending = st.plan.segments.map((_, i) => i).filter((i) => st.done[i] === null);
    if (st.pending.length === 0) await finish(j, { ok: true, file: fileOf(st) });
  };

  // Texts waiting for a run of their kind: progressive (one sequence, grown in stages) or segmented (rounds).
  const progQueue: number[] = [];
  const segQueue: number[] = [];
  /** Takes text t into this compressMany: planned, then queued by kind (or finished at once). */
  const take = async (t: CompressInput): Promise<number> => {
    states.push(newState(t, performance.now()));
    const j = states.length - 1;
    await prepare(j);
    return j;
  };
  const route = (j: number) => {
    if (states[j].result === null) (states[j].progressive ? progQueue : segQueue).push(j);
  };
  for (let j = 0; j < states.length; j++) {
    await prepare(j);
    route(j);
  }
  const checkpoint = (st: TextState): CompressCheckpoint => ({
    planSha256: planSha(st),
    rounds: st.rounds,
    steps: st.steps,
    kOf: [...st.kOf],
    done: [...st.done],
    stepsOf: [...st.stepsOf],
    ...(st.warm ? { warm: st.warm } : {}),
  });

  /**
   * Progressive one-sequence compression of texts `first` (and of the ones admitted meanwhile): one progressiveAll run
   * in which each text's round (one K, one stage budget) is a job; a round that ends short of the whole text is
   * escalated at once (twice the stage steps up to the ceiling, then more vectors) and its next round joins the same
   * run, as do new texts from `admit`, between steps.
   */
  const runProgressive = async (first: number[]) => {
    const keyOf = new Map<string, number>();
    const running = new Set<number>();
    const next: ProgressiveJob[] = [];
    let stepsDone = 0;
    /** The job of text j's next round, or null when it was cancelled. */
    const jobFor = async (j: number): Promise<ProgressiveJob | null> => {
      const st = states[j];
      if (o.isCancelled?.(j)) {
        running.delete(j);
        await finish(j, { ok: false, error: new CompressError('cancelled') });
        return null;
      }
      st.rounds++;
      running.add(j);
      const ids = st.plan!.segments[0].ids;
      const K = st.kOf[0];
      const key = `t${j}/r${st.rounds}`;
      keyOf.set(key, j);
      const w = st.warm;
      return {
        key,
        ids,
        nMem: K,
        seed: `compress/${st.seed}/one/K${K}`,
        stageSteps: st.stepsOf[0],
        ...(w
          ? { init: w.vectors, initAdam: w.adam ?? undefined, passed: w.passed, startLength: w.start }
          : { startLength: Math.max(2, Math.min(ids.length, 1 + o.stageTokens)) }),
      };
    };
    const admit = async (): Promise<ProgressiveJob[]> => {
      const jobs = next.splice(0);
      for (const t of o.admit?.() ?? []) {
        const j = await take(t);
        if (states[j].result !== null) continue;
        if (!states[j].progressive) segQueue.push(j);
        else {
          const job = await jobFor(j);
          if (job) jobs.push(job);
        }
      }
      return jobs;
    };
    const onFinish = async (out: ProgressiveOutcome) => {
      const j = keyOf.get(out.key)!;
      const st = states[j];
      st.steps += out.steps;
      const ids = st.plan!.segments[0].ids;
      const n = ids.length;
      if (out.stopReason === 'full_length') {
        running.delete(j);
        st.kOf = [out.nMem];
        st.done = [out.memory];
        st.exact = 1;
        st.pending = [];
        await finish(j, { ok: true, file: fileOf(st) });
        return;
      }
      const K = st.kOf[0];
      const lo = out.passedLength;
      const cap = maxMemCap(n);
      const step = escalate(
        { K, stageSteps: st.stepsOf[0], passedTokens: lo - 1, diverged: out.stopReason === 'diverged' },
        { baseSteps: o.maxSteps, stepsCeiling, cap, growth: o.growth, stageTokens: o.stageTokens },
      );
      if (step.next === 'steps') {
        // More steps first: the stage that failed again, from the vectors that passed the one before it.
        st.stepsOf = [step.stageSteps];
        st.warm = {
          passed: lo,
          start: out.failedLength ?? Math.min(n, lo + o.stageTokens),
          vectors: out.memory,
          adam: null,
        };
      } else if (step.next === 'vectors') {
        // Then more vectors, from a fresh draw and the first stage: measured on gutenberg-llama-s (docs/compressor.md),
        // the vectors so far with new ones beside them got stuck a few stages on, where a fresh start went through.
        st.kOf = [step.K];
        st.stepsOf = [o.maxSteps];
        st.warm = null;
      } else {
        running.delete(j);
        const text = tok.decode(ids.slice(1));
        const stage =
          `a stage of ${(out.failedLength ?? lo + 1) - 1} tokens was not passed in ${st.stepsOf[0]} steps ` +
          `(twice, with an optimizer restart)`;
        const why =
          step.why === 'diverged'
            ? 'the loss became non-finite (lower lr)'
            : step.why === 'rate'
              ? `${stage}. That is fewer than ${MIN_TOKENS_PER_VECTOR} tokens per vector, so K=${step.K} was not ` +
                `tried: at this rate ${loaded.name} would need more than ${Math.round((n - 1) / MIN_TOKENS_PER_VECTOR)} ` +
                `vectors for the ${n - 1} tokens, if they fit at all, each larger K a round from the first stage`
              : `${stage}; the step ceiling, --max-steps-ceiling ${stepsCeiling}`;
        const limit =
          step.why === 'rate'
            ? lo - 1 >= o.stageTokens
              ? `a memory of about ${lo - 1} tokens (what came out exact), or a larger model, can be one sequence`
              : `a much shorter memory (not even its first ${o.stageTokens} tokens came out exact), or a larger ` +
                `model, can be one sequence`
            : K >= model.maxPositions - n - 1
              ? `the model's ${model.maxPositions} positions leave no room for more vectors`
              : `raise --max-mem (now ${K}) or --max-steps-ceiling (now ${stepsCeiling})`;
        await finish(j, {
          ok: false,
          error: new CompressError(
            `the text (${n - 1} tokens, ${snippet(text)}) was not reproduced exactly as one sequence with K=${K} ` +
              `vector(s)${step.why === 'rate' ? '' : ', the limit'}: greedy regeneration exact for its first ${lo - 1} tokens, ` +
              `then ${why}; ${limit}; ` +
              `or compress it in segments (--segment-tokens 12: it then comes back exactly, but cannot open a prompt)`,
          ),
        });
        return;
      }
      o.onCheckpoint?.(j, checkpoint(st));
      const job = await jobFor(j);
      if (job) next.push(job);
    };
    const jobs: ProgressiveJob[] = [];
    for (const j of first) {
      const job = await jobFor(j);
      if (job) jobs.push(job);
    }
    await progressiveAll(
      loaded.compiled,
      jobs,
      {
        ...PROGRESSIVE_DEFAULTS,
        optimizer: settings.optimizer,
        schedule: 'linear',
        step: o.stageTokens,
        stageSteps: o.maxSteps,
        maxSteps: Number.MAX_SAFE_INTEGER,
        lrReset: true,
        maxBatch: settings.maxBatch,
        maxBatchTokens: settings.maxBatchTokens,
        // Each memory has its own K (lane): let them all step, in turn, rather than two at a time.
        maxLanes: Infinity,
      },
      {
        onFinish,
        admit,
        shouldStop: o.shouldStop,
        onStagePassed: (p) => {
          const j = keyOf.get(p.key)!;
          const st = states[j];
          const n = st.plan!.segments[0].ids.length;
          st.warm = { passed: p.length, start: Math.min(n, p.length + o.stageTokens), vectors: p.memory, adam: p.adam };
          o.onCheckpoint?.(j, { ...checkpoint(st), steps: st.steps + p.steps });
        },
        onStep: (pr) => {
          stepsDone++;
          if (!o.onProgress) return;
          for (const j of running) {
            const st = states[j];
            o.onProgress(j, {
              phase: 'cram',
              round: st.rounds,
              segments: 1,
              exact: 0,
              active: 1,
              finished: 0,
              kValues: [st.kOf[0]],
              stepsDone,
              meanAccuracy: pr.meanAccuracy,
            });
          }
        },
      },
    );
    if (o.shouldStop?.()) throw new CompressAborted('compression stopped before it finished');
  };

  /**
   * Segmented compression of texts `first` in rounds: each round optimises the not-yet-exact segments of all its texts
   * in one cramAll run, then checks each by greedy regeneration. New texts from `admit` join at a round's start, or
   * during its first cramAll run (the one at the base step limit).
   */
  const runSegmented = async (first: number[]) => {
    const mine = new Set(first);
    const live = () => [...mine].filter((j) => states[j].result === null).map((j) => ({ st: states[j], j }));
    const admitted = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const t of o.admit?.() ?? []) {
        const j = await take(t);
        if (states[j].result !== null) continue;
        if (states[j].progressive) progQueue.push(j);
        else {
          mine.add(j);
          out.push(j);
        }
      }
      return out;
    };
    while (live().length > 0) {
      await admitted();
      for (const { st, j } of live()) {
        if (o.isCancelled?.(j)) await finish(j, { ok: false, error: new CompressError('cancelled') });
        else st.rounds++;
      }
      const active = live();
      if (active.length === 0) break;
      const kValues = new Map<number, number[]>();
      const where = new Map<string, { j: number; i: number }>();
      const jobsOf = (st: TextState, j: number) => {
        kValues.set(
          j,
          [...new Set(st.pending.map((i) => st.kOf[i]))].sort((a, b) => a - b),
        );
        return st.pending.map((i) => {
          const key = `t${j}/seg${i}`;
          where.set(key, { j, i });
          return {
            key,
            ids: st.plan!.segments[i].ids,
            nMem: st.kOf[i],
            seed: `compress/${st.seed}/seg${i}/K${st.kOf[i]}`,
            maxSteps: st.stepsOf[i],
          };
        });
      };
      const jobs = active.flatMap(({ st, j }) => jobsOf(st, j));
      const outcomes = new Map<string, CramOutcome>();
      const finishedIn = new Map<number, number>();
      let roundSteps = 0;
      const single = states.length === 1;
      // One cramAll run per step limit (escalated segments run longer); usually there is one. Texts admitted during
      // the run at the base limit join it.
      const limits = [...new Set(jobs.map((x) => x.maxSteps))].sort((a, b) => a - b);
      if (o.admit && !limits.includes(o.maxSteps)) limits.unshift(o.maxSteps);
      for (const limit of limits) {
        const admit =
          o.admit && limit === o.maxSteps
            ? async (): Promise<CramJob[]> => {
                const js: CramJob[] = [];
                for (const j of await admitted()) {
                  if (o.isCancelled?.(j)) {
                    await finish(j, { ok: false, error: new CompressError('cancelled') });
                    continue;
                  }
                  const st = states[j];
                  st.rounds++;
                  active.push({ st, j });
                  js.push(...jobsOf(st, j).map(({ maxSteps: _, ...job }) => job));
                }
                return js;
              }
            : undefined;
        await cramAll(
          loaded.compiled,
          jobs.filter((x) => x.maxSteps === limit).map(({ maxSteps: _, ...job }) => job),
          limit === o.maxSteps ? settings : settingsFor(limit),
          {
            admit,
            onFinish: (out) => {
              outcomes.set(out.key, out);
              const { j } = where.get(out.key)!;
              finishedIn.set(j, (finishedIn.get(j) ?? 0) + 1);
            },
            onStep: (pr) => {
              roundSteps++;
              if (!o.onProgress) return;
              for (const { st, j } of active) {
                const fin = finishedIn.get(j) ?? 0;
                o.onProgress(j, {
                  phase: 'cram',
                  round: st.rounds,
                  segments: st.plan!.segments.length,
                  exact: st.exact,
                  active: single ? pr.active : st.pending.length - fin,
                  finished: single ? pr.finished : fin,
                  kValues: kValues.get(j)!,
                  stepsDone: roundSteps,
                  meanAccuracy: pr.meanAccuracy,
                });
              }
            },
            shouldStop: o.shouldStop,
          },
        );
        if (o.shouldStop?.()) break;
      }
      if (o.shouldStop?.()) throw new CompressAborted('compression stopped before it finished');
      for (const { st, j } of active) {
        st.steps += roundSteps;
        o.onProgress?.(j, {
          phase: 'verify',
          round: st.rounds,
          segments: st.plan!.segments.length,
          exact: st.exact,
          active: st.pending.length,
          finished: st.pending.length,
          kValues: kValues.get(j)!,
          stepsDone: roundSteps,
          meanAccuracy: 1,
        });
        const next: number[] = [];
        let failure: CompressError | null = null;
        for (const i of st.pending) {
          const out = outcomes.get(`t${j}/seg${i}`)!;
          const ids = st.plan!.segments[i].ids;
          const regen = out.bestAccuracy === 1 ? await regenerate(loaded.compiled, out.memory, st.kOf[i], ids) : null;
          if (regen?.regenerated_exact) {
            st.done[i] = out.memory;
            st.exact++;
            continue;
          }
          const cap = maxMemCap(ids.length);
          // Steps first: a round that ran out of steps while still improving gets twice the steps at the same K.
          const moreSteps = Math.min(stepsCeiling, st.stepsOf[i] * 2);
          if (out.stopReason === 'max_steps' && moreSteps > st.stepsOf[i]) {
            st.stepsOf[i] = moreSteps;
            next.push(i);
            continue;
          }
          if (st.kOf[i] >= cap) {
            // More steps help only a run that was still improving at its limit (handled above); this one stalled.
            const seg = st.plan!.segments[i];
            const segText = tok.decode(ids.slice(1));
            const stopped =
              out.stopReason === 'max_steps'
                ? `at the step ceiling (${stepsCeiling}; raise maxStepsCeiling, serve --max-steps-ceiling)`
                : `by ${out.stopReason} (no better accuracy for ${o.patience} steps; raise --patience)`;
            failure = new CompressError(
              `segment ${i} (tokens ${seg.start}–${seg.start + ids.length - 2}, ${snippet(segText)}) ` +
                `was not reproduced exactly with K=${st.kOf[i]} vector(s), the limit: best teacher-forced accuracy ` +
                `${out.bestAccuracy.toFixed(3)} after ${out.steps} steps, stopped ${stopped}` +
                `${regen ? `, greedy regeneration exact for ${regen.regenerated_prefix_tokens}/${ids.length - 1} tokens` : ''}; ` +
                `raise maxMem (--max-mem, now ${st.kOf[i]}), or use shorter segments (--segment-tokens)`,
            );
            break;
          }
          st.kOf[i] = Math.min(cap, Math.max(st.kOf[i] + 1, Math.ceil(st.kOf[i] * o.growth)));
          st.stepsOf[i] = o.maxSteps;
          next.push(i);
        }
        st.pending = next;
        if (failure) await finish(j, { ok: false, error: failure });
        else if (next.length === 0) await finish(j, { ok: true, file: fileOf(st) });
        else o.onCheckpoint?.(j, checkpoint(st));
      }
    }
  };

  while (progQueue.length > 0 || segQueue.length > 0) {
    if (progQueue.length > 0) await runProgressive(progQueue.splice(0));
    if (segQueue.length > 0) await runSegmented(segQueue.splice(0));
  }
  return states.map((st) => st.result!);
}

/** Refuses a file made for another model or tokenizer, naming both. */
export function checkModel(mf: MemoryFile, loaded: LoadedModel): void {
  const tok = tokenizerOf(loaded);
  const differs = identityMismatch('.mem file', mf, {
    model: loaded.name,
    modelSha256: loaded.weightsSha256,
    tokenizerSha256: tok.fingerprint,
  });
  if (differs) throw new CompressError(differs);
  try {
    validateForModel(mf, {
      name: loaded.name,
      embedDim: loaded.model.embedDim,
      maxPositions: loaded.model.maxPositions,
      vocabSize: loaded.model.numEmbeddings,
    });
  } catch (e) {
    throw new CompressError((e as Error).message);
  }
}

export interface DecompressOptions extends ModelOption {
  onProgress?: (segmentsDone: number, segments: number) => void;
}

/** Regenerates the text; throws CompressError when a segment or the whole text does not hash to what was stored. */
export async function decompress(mf: MemoryFile, options: DecompressOptions): Promise<string> {
  validateMemoryFile(mf);
  const loaded = await resolveModel(options.model);
  checkModel(mf, loaded);
  const tok = tokenizerOf(loaded);
  const predicted: number[] = [];
  for (const [i, s] of mf.segments.entries()) {
    const given = s.startsWithBos || i === 0 ? s.firstToken : predicted[predicted.length - 1];
    if (s.startsWithBos && s.firstToken !== tok.bosId) {
      throw new CompressError(
        `segment ${i} starts with BOS id ${s.firstToken} but the ${loaded.name} tokenizer's BOS is ${tok.bosId}`,
      );
    }
    const gen = await greedyGenerate(loaded.compiled, {
      parts: [{ vectors: s.vectors }, { ids: [given] }],
      maxNew: s.nTokens,
    });
    if (gen.length !== s.nTokens || idsSha256([given, ...gen]) !== s.idsSha256) {
      throw new CompressError(
        `segment ${i} did not regenerate the tokens it was made from (token hash mismatch; ` +
          `${gen.length}/${s.nTokens} tokens generated): the vectors are damaged, or this model/backend computes differently`,
      );
    }
    predicted.push(...gen);
    options.onProgress?.(i + 1, mf.segments.length);
  }
  const bosLead = mf.segments[0]?.startsWithBos ?? true;
  const textIds = bosLead || mf.segments.length === 0 ? predicted : [mf.segments[0].firstToken, ...predicted];
  const text = tok.decode(textIds);
  const hash = sha256(text);
  if (hash !== mf.textSha256) {
    throw new CompressError(
      `decompressed text does not match the stored SHA-256 (stored ${mf.textSha256.slice(0, 12)}…, got ${hash.slice(0, 12)}…; ` +
        `${text.length} chars, stored ${mf.textChars}): the file's metadata or vectors were altered`,
    );
  }
  if (text.length !== mf.textChars) {
    throw new CompressError(
      `decompressed text matches the stored SHA-256 but has ${text.length} chars where the file's text_chars says ` +
        `${mf.textChars}: the file's metadata was altered (the text itself is intact)`,
    );
  }
  return text;
}

/**
 * The input for a prompt that follows a memory: every segment's vectors (in order), then the prompt's tokens (encoded
 * by the model's tokenizer, BOS included where it adds one, unless `bos: false`). Feed it to greedyGenerate (or the
 * objective) in place of the text the memory holds.
 */
export async function embedWithMemory(
  mf: MemoryFile,
  prompt: string | number[],
  options: ModelOption & { bos?: boolean },
): Promise<InputPart[]> {
  validateMemoryFile(mf);
  const loaded = await resolveModel(options.model);
  checkModel(mf, loaded);
  const tok = tokenizerOf(loaded);
  let ids = typeof prompt === 'string' ? tok.encode(prompt) : prompt;
  if (options.bos === false && tok.bosId !== null && ids[0] === tok.bosId) ids = ids.slice(1);
  const parts: InputPart[] = mf.segments.map((s) => ({ vectors: s.vectors }));
  if (ids.length > 0) parts.push({ ids });
  return parts;
}

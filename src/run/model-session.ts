/**
 * The harness's only door to the tensor engine. Everything a run, `cram run` or `cram eval` asks of a frozen model goes
 * through here: start the backend, load a model, cram a batch of jobs, regenerate greedily, measure the no-vector
 * baseline, evaluate saved vectors. Callers import this module lazily (`await import`), so validating a config,
 * planning and reporting never load the engine.
 */
import type { BackendChoice } from '../engine/backends.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { MatmulMode, Precision } from '../engine/precision.ts';
import type { CramHooks, CramJob, CramSettings } from '../cram/cram.ts';
import type { InputPart } from '../cram/generate.ts';
import type { OneStepHooks, OneStepJob, OneStepSettings } from '../cram/one-step.ts';
import type { ProgressiveHooks, ProgressiveJob, ProgressiveSettings } from '../cram/progressive.ts';
import type { Regeneration } from '../cram/regenerate.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
import type { CausalLM } from '../models/causal-lm.ts';

export type { CramHooks, CramJob, CramOutcome, CramProgress, CramSettings } from '../cram/cram.ts';
export type { InputPart } from '../cram/generate.ts';
export type { Regeneration } from '../cram/regenerate.ts';
export type {
  ProgressiveHooks,
  ProgressiveJob,
  ProgressiveOutcome,
  ProgressiveSettings,
  StageOutcome,
} from '../cram/progressive.ts';
export type { OneStepHooks, OneStepJob, OneStepOutcome, OneStepSettings } from '../cram/one-step.ts';

/** What the engine runs on (written to environment.json). */
export interface BackendInfo {
  name: string;
  detail: string;
  /** Precision of the matrix products (src/engine/precision.ts) and how this backend runs it. */
  precision?: Precision;
  precisionCompute?: 'native' | 'emulated';
  precisionNote?: string | null;
}

/** A loaded frozen model and what the harness does with it. */
export interface ModelSession {
  /** Folder name, e.g. "gutenberg-llama-s". */
  readonly name: string;
  readonly dir: string;
  /** SHA-256 of the weight bytes (identifies the model in vector files). */
  readonly weightsSha256: string;
  /** Precision of the matrix products (startEngine's). */
  readonly precision: Precision;
  readonly tokenizer: TextTokenizer;
  /** d: width of a [mem] vector. */
  readonly embedDim: number;
  /** V: rows of the input-embedding matrix. */
  readonly numEmbeddings: number;
  readonly maxPositions: number;
  /** Optimises every job (batched); outcomes arrive through hooks.onFinish as texts finish. */
  cram(jobs: CramJob[], settings: CramSettings, hooks: CramHooks): Promise<void>;
  /** Exact greedy regeneration of ids[1..] from [vectors, ids[0]]. */
  regenerate(memory: Float32Array, nMem: number, ids: number[]): Promise<Regeneration>;
  /** Regeneration of several texts with the same K in one decoding batch. */
  regenerateMany(nMem: number, items: { memory: Float32Array; ids: number[] }[]): Promise<Regeneration[]>;
  /** Loss and accuracy of each text without vectors. */
  baseline(texts: number[][]): Promise<{ loss: number; accuracy: number }[]>;
  /** Loss and teacher-forced accuracy of one text with the given vectors in front. */
  evaluate(memory: Float32Array, nMem: number, ids: number[]): Promise<{ loss: number; accuracy: number }>;
  /** The same for several texts with the same K: vectors [B·K·d]; also each text's per-token cross-entropies (nats). */
  evaluateMany(
    memory: Float32Array | null,
    nMem: number,
    texts: number[][],
  ): Promise<{ loss: number; accuracy: number; tokenCe: number[] }[]>;
  /** Greedy continuation of an input made of vector runs and token runs. */
  generate(parts: InputPart[], maxNew: number, opts?: { eosId?: number | null }): Promise<number[]>;
  /** std of the whole input-embedding matrix (the paper's init scale). */
  embeddingStd(): number;
  /** Progressive cramming of every job (src/cram/progressive.ts); outcomes through hooks.onFinish. */
  progressive(jobs: ProgressiveJob[], settings: ProgressiveSettings, hooks: ProgressiveHooks): Promise<void>;
  /** One-step generation training of every job (src/cram/one-step.ts); outcomes through hooks.onFinish. */
  oneStep(jobs: OneStepJob[], settings: OneStepSettings, hooks: OneStepHooks): Promise<void>;
  /** Loss and accuracy of (e, m) pairs on their targets (one-step, teacher-free: one pass). */
  evaluateOneStep(
    items: { e: Float32Array; m: Float32Array; targets: number[] }[],
  ): Promise<{ loss: number; accuracy: number }[]>;
  /** The n tokens one forward pass of [e, m × (n−1)] produces (argmax at every position), one row per pair. */
  oneStepDecode(e: Float32Array, m: Float32Array, n: number): Promise<number[][]>;
  /**
   * Mean of the input-embedding matrix's rows [d], as the model reads a token (Gemma's √d scale included): the
   * "average token" a side-effects study puts in front of texts. Float64 sums, rounded to float32.
   */
  embeddingMean(): Float32Array;
  dispose(): void;
}

/**
 * Row mean of a model's input-embedding table. Every architecture (FrozenLM) keeps the table's weight name and, for
 * Gemma, its √d input scale as fields; they are read here rather than added to the CausalLM interface.
 */
function embeddingMean(model: CausalLM, name: string): Float32Array {
  const m = model as unknown as { embeddingName?: unknown; normalizer?: unknown };
  if (typeof m.embeddingName !== 'string')
    throw new Error(`${name}: this architecture does not say which weight is its input-embedding table`);
  const table = model.weights.read(m.embeddingName);
  const d = model.embedDim;
  const rows = table.length / d;
  const sum = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) sum[j] += table[r * d + j];
  const scale = typeof m.normalizer === 'number' ? m.normalizer : 1;
  return Float32Array.from(sum, (v) => (v / rows) * scale);
}

let matmulMode: MatmulMode | null = null;

/** Starts the backend and checks, before any work, that it runs `precision` (else a one-line error naming it). */
export async function startBackend(choice: BackendChoice, precision: Precision = 'float32'): Promise<BackendInfo> {
  const { initRuntime } = await import('../engine/runtime.ts');
  const { resolvePrecision } = await import('../cram/compiled-model.ts');
  const rt: Runtime = await initRuntime(choice);
  const { mode, note } = await resolvePrecision(rt, precision);
  matmulMode = mode;
  if (note) process.stderr.write(`note: ${note}\n`);
  const precisionCompute = mode.emulate ? 'emulated' : 'native';
  return { name: rt.name, detail: rt.detail, precision, precisionCompute, precisionNote: note };
}

/** Loads a model with its tokenizer on the started backend. */
export async function openModel(nameOrPath: string): Promise<ModelSession> {
  const { activeRuntime } = await import('../engine/runtime.ts');
  const { CompiledModel } = await import('../cram/compiled-model.ts');
  const { cramAll } = await import('../cram/cram.ts');
  const { greedyGenerate } = await import('../cram/generate.ts');
  const { regenerate, regenerateMany } = await import('../cram/regenerate.ts');
  const { progressiveAll } = await import('../cram/progressive.ts');
  const { evaluateOneStep, oneStepAll } = await import('../cram/one-step.ts');
  const { loadModel } = await import('../models/load.ts');
  const rt = activeRuntime();
  if (!rt) throw new Error('openModel: start the backend first (startBackend)');
  const loaded = await loadModel(nameOrPath);
  const { model } = loaded;
  if (!loaded.tokenizer) throw new Error(`${loaded.dir} has no tokenizer`);
  const engine = new CompiledModel(rt, model, loaded.weightsSha256, { matmul: matmulMode ?? undefined });
  const evaluateMany = async (memory: Float32Array | null, nMem: number, texts: number[][]) =>
    (await engine.evaluate(nMem, memory, texts)).map(({ loss, accuracy, tokenCe }) => ({ loss, accuracy, tokenCe }));
  return {
    name: loaded.name,
    dir: loaded.dir,
    weightsSha256: loaded.weightsSha256,
    precision: engine.precision,
    tokenizer: loaded.tokenizer,
    embedDim: model.embedDim,
    numEmbeddings: model.numEmbeddings,
    maxPositions: model.maxPositions,
    cram: (jobs, settings, hooks) => cramAll(engine, jobs, settings, hooks),
    regenerate: (memory, nMem, ids) => regenerate(engine, memory, nMem, ids),
    regenerateMany: (nMem, items) => regenerateMany(engine, nMem, items),
    baseline: async (texts) =>
      (await engine.evaluate(0, null, texts)).map(({ loss, accuracy }) => ({ loss, accuracy })),
    async evaluate(memory, nMem, ids) {
      const [r] = await evaluateMany(memory, nMem, [ids]);
      return { loss: r.loss, accuracy: r.accuracy };
    },
    evaluateMany,
    generate: (parts, maxNew, opts = {}) => greedyGenerate(engine, { parts, maxNew, eosId: opts.eosId }),
    embeddingStd: () => model.embeddingStd(),
    progressive: (jobs, settings, hooks) => progressiveAll(engine, jobs, settings, hooks),
    oneStep: (jobs, settings, hooks) => oneStepAll(engine, jobs, settings, hooks),
    evaluateOneStep: (items) => evaluateOneStep(engine, items),
    oneStepDecode: (e, m, n) => engine.oneStepDecode(e, m, n),
    embeddingMean: () => embeddingMean(model, loaded.name),
    dispose: () => {
      void engine.release();
    },
  };
}

/**
 * The known limits of every model of a run against the started backend (src/cram/limits.ts), before any work: weights
 * and the largest batch against its memory. Reads weight headers only.
 */
export async function checkModelsFit(
  models: { dir: string; name: string; maxPositions: number }[],
  backend: string,
  batch: { maxTokens: number; batchTokens: number; tokensFrom: string; precision?: Precision },
): Promise<void> {
  const { checkLimits } = await import('../cram/limits.ts');
  const { loadModel } = await import('../models/load.ts');
  for (const m of models) {
    const { model } = await loadModel(m.dir, { tokenizer: false, fingerprint: false });
    checkLimits(model, backend, {
      name: m.name,
      maxTokens: batch.maxTokens,
      batchTokens: batch.batchTokens,
      tokensFrom: batch.tokensFrom,
      precision: batch.precision,
    });
  }
}

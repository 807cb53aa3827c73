/**
 * Not a kind: what the analysis kinds (solution-space, context-ablation, side-effects) share. Texts are planned as the
 * capacity sweep takes them (same sources, same truncation, same skip rule for short texts); model calls are cut into
 * batches within the config's `batch` limits; small numeric helpers (means, cosine, norms). The vector file every
 * kind writes for a text's trained vectors is src/run/crammed-text.ts's saveTextVectors.
 */
import { sourceSpec, type ExperimentConfig } from '../../config/schema.ts';
import { loadSourceTexts, sourceName, type SourceSpec } from '../../data/sources.ts';
import type { PlanContext, SkippedText } from '../kind.ts';
import type { ModelSession, Regeneration } from '../../run/model-session.ts';
import { chunkRows as chunkRowsByTokens } from '../../cram/batch-loop.ts';

export interface StudyText {
  source: string;
  spec: SourceSpec;
  /** Index of the text in its source (the same text at every length). */
  index: number;
  /** Grid length L. */
  length: number;
  /** The first L token ids (BOS counted). */
  ids: number[];
}

/**
 * The first `count` texts (default `samples`) of every source at every length of the config, as the capacity sweep
 * plans them: a text shorter than a length is not a sample there (returned in `skipped`), a length longer than every
 * text is refused. Random-word sources draw one length per text, which these studies cannot group by; they are refused.
 */
export function planStudyTexts(
  ctx: PlanContext,
  opts: { kind: string; count?: number; offset?: number; extraPositions?: number } = { kind: '' },
): { texts: StudyText[]; skipped: SkippedText[] } {
  const { config, model, tokenizer } = ctx;
  const count = opts.count ?? config.samples;
  const offset = opts.offset ?? 0;
  const maxLength = Math.max(...config.lengths);
  const maxK = Math.max(...config.n_mem);
  const extra = opts.extraPositions ?? 0;
  if (maxLength + maxK + extra > model.maxPositions) {
    throw new Error(
      `the longest of lengths = ${maxLength} tokens with K = ${maxK} vectors${extra ? ` and ${extra} more positions` : ''} needs ${maxLength + maxK + extra} positions, ` +
        `but ${model.name} takes ${model.maxPositions} (${model.positionsFrom}); lower it or the largest n_mem`,
    );
  }
  const texts: StudyText[] = [];
  const skipped: SkippedText[] = [];
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    const source = sourceName(spec);
    if (spec.kind === 'random-words') {
      throw new Error(
        `sources: ${opts.kind} groups texts by length, and each random-word text draws its own length; use a Gutenberg source or a file of word sequences`,
      );
    }
    const all = loadSourceTexts(spec, tokenizer, {
      count: offset + count,
      maxLength,
      seed: config.seed,
      onProgress: (done, total) => ctx.progress(`${model.name}: tokenizing ${source}, ${done}/${total} texts`),
    }).slice(offset);
    for (const length of config.lengths) {
      if (!all.some((t) => t.ids.length >= length)) {
        const longest = Math.max(...all.map((t) => t.ids.length));
        throw new Error(
          `lengths: ${length} is longer than every text of ${source} (the longest has ${longest} tokens with the ${model.name} tokenizer); drop it`,
        );
      }
      for (const t of all) {
        if (t.ids.length < length) {
          skipped.push({ model: model.name, source, length, sample_index: t.index, n_tokens: t.ids.length });
          continue;
        }
        texts.push({ source, spec, index: t.index, length, ids: t.ids.slice(0, length) });
      }
    }
  }
  return { texts, skipped };
}

/** The config's batch limits: most rows per engine call, most (vectors + tokens) × rows. */
export interface BatchLimits {
  maxTexts: number;
  maxTokens: number;
}
export const batchLimits = (c: ExperimentConfig): BatchLimits => ({
  maxTexts: c.batch.max_texts,
  maxTokens: c.batch.max_tokens,
});

/** Consecutive chunks of rows whose (K + longest) × rows stays within the limits (one row always fits). */
export function chunkRows<T>(rows: readonly T[], positions: (r: T) => number, limits: BatchLimits): T[][] {
  return chunkRowsByTokens(rows, positions, limits.maxTokens, limits.maxTexts);
}

export interface EvalRow {
  memory: Float32Array | null;
  ids: number[];
}
export interface EvalResult {
  loss: number;
  accuracy: number;
  correct: number;
  tokenCe: number[];
}

/** Teacher-forced loss, accuracy, correct count and per-token CE of rows sharing K (memory null when K = 0), batched. */
export async function evaluateRows(
  session: ModelSession,
  nMem: number,
  rows: readonly EvalRow[],
  limits: BatchLimits,
): Promise<EvalResult[]> {
  const out: EvalResult[] = [];
  const size = nMem * session.embedDim;
  for (const chunk of chunkRows(rows, (r) => nMem + r.ids.length, limits)) {
    let memory: Float32Array | null = null;
    if (nMem > 0) {
      memory = new Float32Array(chunk.length * size);
      chunk.forEach((r, i) => {
        if (!r.memory || r.memory.length !== size)
          throw new Error(`vectors hold ${r.memory?.length ?? 0} values, expected ${nMem}×${session.embedDim}`);
        memory!.set(r.memory, i * size);
      });
    }
    const res = await session.evaluateMany(
      memory,
      nMem,
      chunk.map((r) => r.ids),
    );
    res.forEach((r, i) => out.push({ ...r, correct: Math.round(r.accuracy * (chunk[i].ids.length - 1)) }));
  }
  return out;
}

/** Exact greedy regeneration of rows sharing K, batched. */
export async function regenerateRows(
  session: ModelSession,
  nMem: number,
  rows: readonly { memory: Float32Array; ids: number[] }[],
  limits: BatchLimits,
): Promise<Regeneration[]> {
  const out: Regeneration[] = [];
  for (const chunk of chunkRows(rows, (r) => nMem + r.ids.length, limits))
    out.push(...(await session.regenerateMany(nMem, chunk)));
  return out;
}

export const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Sample standard deviation (n − 1); NaN for fewer than two values. */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** Euclidean norm, float64. */
export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** Cosine similarity, float64; 0 when either vector is zero. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`cosine of vectors of ${a.length} and ${b.length} values`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/** Rounded to `digits` significant digits (keeps JSON lines and figure data small). */
export const sig = (v: number, digits = 6): number => (Number.isFinite(v) ? Number(v.toPrecision(digits)) : v);

/** Safe file-name part of a source name. */
export const fileSafe = (s: string) => s.replace(/[^\w.-]+/g, '_');

export const fmt = (v: number | null | undefined, digits = 3): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
export const fmtPm = (m: number, s: number, digits = 3): string =>
  Number.isFinite(m) ? `${m.toFixed(digits)}${Number.isFinite(s) ? ` ± ${s.toFixed(digits)}` : ''}` : '–';
export const pct = (v: number | null | undefined, digits = 1): string =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '–'
    : `${(100 * v).toFixed(digits).replace(/^-(0\.?0*)$/, '$1')} %`;

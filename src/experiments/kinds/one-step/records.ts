/**
 * The one-step kind's JSONL lines: one_step.jsonl (one OneStepRecord per text, length and m sharing: the resume log,
 * and the rows of results.csv in the schema's key order), one_step_curves.jsonl (per-step curves of `curves` texts),
 * and the autoregressive grid's capacity_samples.jsonl (the capacity kind's SampleRecord).
 */
import { z } from 'zod';
import { float } from '../../../results/record-schema.ts';

export { GRID_FILE } from '../capacity/grid.ts';
export { SampleRecordSchema, type SampleRecord } from '../capacity/records.ts';

export const RECORD_FILE = 'one_step.jsonl';
export const CURVES_FILE = 'one_step_curves.jsonl';

export const M_SHARING = ['per_text', 'shared'] as const;
export type MSharing = (typeof M_SHARING)[number];

/** One finished (text, length, m_sharing): a line of one_step.jsonl and a row of results.csv. */
export const OneStepRecordSchema = z.object({
  run: z.string(),
  model: z.string(),
  source: z.string(),
  /** Grid length L (tokens, BOS counted; random words: the sampled length). */
  length: z.number(),
  n_tokens: z.number(),
  /** Predictions made in the one pass: n_tokens − 1 (the tokens after the first). */
  n_targets: z.number(),
  m_sharing: z.enum(M_SHARING),
  /** Shared m: the group's name; '' per text. */
  group: z.string(),
  group_size: z.number(),
  sample_index: z.number(),
  seed: z.number(),
  /** Autoregressive no-vector baseline over the same predictions. */
  original_loss: float(),
  original_accuracy: float(),
  /** Accuracy of the one-pass predictions with the kept (e, m). */
  best_accuracy: float(),
  loss_at_best_accuracy: float(),
  best_loss: float(),
  /** best_accuracy ≥ 0.99 (the paper's success). */
  success: z.boolean(),
  steps: z.number(),
  best_step: z.number(),
  stop_reason: z.enum(['solved', 'patience', 'max_steps', 'diverged']),
  /** Tokens the decoding pass (argmax, decode graph) gets right with the kept vectors. */
  onepass_correct: z.number(),
  /** Median ms of one forward pass producing all n_targets tokens (batch 1); null: not timed. */
  decode_onepass_ms: z.number().nullable(),
  /** Fastest of the timed one-pass runs, ms (least disturbed by other work on the machine). */
  decode_onepass_min_ms: z.number().nullable(),
  /** Median ms of greedy decoding of n_targets tokens with the key/value cache (batch 1); null: not timed. */
  decode_greedy_ms: z.number().nullable(),
  /** Fastest of the timed greedy runs, ms. */
  decode_greedy_min_ms: z.number().nullable(),
  /** decode_greedy_min_ms / decode_onepass_min_ms (fastest runs: the cost without interference). */
  decode_speedup: z.number().nullable(),
  /** K of the vectors the greedy timing started from. */
  greedy_n_mem: z.number().nullable(),
  seconds: float(),
  embed_dim: z.number(),
  embedding_rows: z.number(),
  ids_sha256: z.string(),
  vector_file: z.string(),
});
export type OneStepRecord = z.infer<typeof OneStepRecordSchema>;

/** one_step_curves.jsonl: per step of a recorded text. */
export const OneStepCurveSchema = z.object({
  model: z.string(),
  source: z.string(),
  length: z.number(),
  m_sharing: z.enum(M_SHARING),
  sample_index: z.number(),
  loss: z.array(float()),
  accuracy: z.array(float()),
});
export type OneStepCurve = z.infer<typeof OneStepCurveSchema>;

export function oneStepKey(model: string, source: string, mode: MSharing, length: number, index: number): string {
  return `${model}|${source}|${mode}|L${length}|i${index}`;
}

export const recordKey = (r: OneStepRecord) => oneStepKey(r.model, r.source, r.m_sharing, r.length, r.sample_index);

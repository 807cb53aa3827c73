/**
 * The progressive kind's JSONL lines: progressive.jsonl (one ProgressiveRecord per text: the resume log, and the rows
 * of results.csv in the schema's key order), stages.jsonl (each text's stages), progressive_curves.jsonl (per-step
 * curves of `curves` texts), and the fixed grid's capacity_samples.jsonl (the capacity kind's SampleRecord).
 */
import { z } from 'zod';
import { float } from '../../../results/record-schema.ts';

export { GRID_FILE } from '../capacity/grid.ts';
export { SampleRecordSchema, type SampleRecord } from '../capacity/records.ts';

export const RECORD_FILE = 'progressive.jsonl';
export const STAGES_FILE = 'stages.jsonl';
export const CURVES_FILE = 'progressive_curves.jsonl';

/** One finished text: a line of progressive.jsonl and a row of results.csv. */
export const ProgressiveRecordSchema = z.object({
  run: z.string(),
  model: z.string(),
  source: z.string(),
  n_mem: z.number(),
  sample_index: z.number(),
  seed: z.number(),
  schedule: z.enum(['linear', 'doubling']),
  /** Target tokens (BOS counted): target_length. */
  n_tokens: z.number(),
  /** Longest prefix of the target (tokens, BOS counted) greedy regeneration reproduces from the kept vectors. */
  horizon: z.number(),
  /** Longest stage passed (greedy-exact); 1 when none. */
  passed_length: z.number(),
  /** Shortest stage that failed (its budget ran out); null when none failed. */
  failed_length: z.number().nullable(),
  /** The whole target was reproduced. */
  reached_full: z.boolean(),
  stages: z.number(),
  stages_passed: z.number(),
  /** Forward/backward passes over all stages. */
  steps: z.number(),
  lr_resets: z.number(),
  /** Stages where teacher-forced accuracy 1.0 was not confirmed by greedy regeneration (should be 0). */
  greedy_rejections: z.number(),
  stop_reason: z.enum(['full_length', 'stage_failed', 'text_budget', 'diverged']),
  /** No-vector teacher-forced accuracy over the whole target. */
  original_accuracy: float(),
  /** No-vector cross-entropy of the horizon prefix's horizon−1 predictions, summed (nats): what the vectors encode. */
  original_ce_horizon: float(),
  /** Largest grid length at which the same text, crammed from scratch, reached accuracy 1.0 (0: none; null: no grid). */
  grid_solved_max: z.number().nullable(),
  /** Largest grid length at which it was regenerated exactly (0: none; null: no grid). */
  grid_exact_max: z.number().nullable(),
  seconds: float(),
  embed_dim: z.number(),
  embedding_rows: z.number(),
  /** SHA-256 of the target ids. */
  ids_sha256: z.string(),
  vector_file: z.string(),
});
export type ProgressiveRecord = z.infer<typeof ProgressiveRecordSchema>;

/** stages.jsonl: one line per text. */
export const StagesLineSchema = z.object({
  model: z.string(),
  source: z.string(),
  n_mem: z.number(),
  sample_index: z.number(),
  stages: z.array(
    z.object({
      length: z.number(),
      steps: z.number(),
      outcome: z.string(),
      reset: z.boolean(),
      best_accuracy: float(),
      greedy_rejections: z.number(),
    }),
  ),
});
export type StagesLine = z.infer<typeof StagesLineSchema>;

/** progressive_curves.jsonl: per step of a recorded text. */
export const ProgressiveCurveSchema = z.object({
  model: z.string(),
  source: z.string(),
  n_mem: z.number(),
  sample_index: z.number(),
  loss: z.array(float()),
  accuracy: z.array(float()),
  /** Stage length at each step. */
  length: z.array(z.number()),
});
export type ProgressiveCurve = z.infer<typeof ProgressiveCurveSchema>;

export function progressiveKey(model: string, source: string, nMem: number, index: number): string {
  return `${model}|${source}|K${nMem}|i${index}`;
}

export const recordKey = (r: ProgressiveRecord) => progressiveKey(r.model, r.source, r.n_mem, r.sample_index);

/**
 * One finished text of the capacity sweep: a line of samples.jsonl (and of the fixed grid's capacity_samples.jsonl in
 * the progressive and one-step kinds) and a row of results.csv. The schema's key order is the CSV's column order.
 * Losses are mean cross-entropies in nats over the text's N-1 predictions; CE totals follow the paper (× N).
 * It lives here, not in the capacity kind's folder, because metrics, tables, `cram run`, `cram compare` and the
 * viewer read it too.
 */
import { z } from 'zod';
import { float } from './record-schema.ts';

export const SampleRecordSchema = z.object({
  /** Run name (the results folder). */
  run: z.string(),
  /** Model folder name, e.g. "gutenberg-llama-s". */
  model: z.string(),
  /** Text source: "gutenberg-heldout", "gutenberg-seen", "random-words", or a user file's name. */
  source: z.string(),
  /** Grid length L requested (tokens, BOS counted). For random-word texts, the sampled length. */
  length: z.number(),
  /** Tokens actually crammed (≤ length when a text is shorter). */
  n_tokens: z.number(),
  /** Number of [mem] vectors K. */
  n_mem: z.number(),
  /** Index of the text within its source (the same index is the same text at every length). */
  sample_index: z.number(),
  /** Seed of the initial vectors. */
  seed: z.number(),
  original_loss: float(),
  original_accuracy: float(),
  /** Lowest loss over the steps (paper's best_loss). */
  best_loss: float(),
  /** Highest teacher-forced accuracy over the steps (paper's best_accuracy). */
  best_accuracy: float(),
  loss_at_best_accuracy: float(),
  /** Paper: original_loss × N. */
  original_ce: float(),
  /** Paper: best_loss × N. */
  compressed_ce: float(),
  /** original_ce − compressed_ce (nats). */
  info_gain_nats: float(),
  info_gain_bits: float(),
  /** Paper: (best_accuracy − original_accuracy) × N. */
  token_gain: float(),
  steps: z.number(),
  best_step: z.number(),
  stop_reason: z.enum(['solved', 'patience', 'max_steps', 'diverged']),
  regenerated_exact: z.boolean(),
  regenerated_prefix_tokens: z.number(),
  /** Wall time this text spent in its batch. */
  seconds: float(),
  /** Width of a [mem] vector (d). */
  embed_dim: z.number(),
  /** Rows of the input-embedding matrix (V in d·16/log2 V). */
  embedding_rows: z.number(),
  /** SHA-256 of the crammed token ids. */
  ids_sha256: z.string(),
  /** Vector file, relative to the run folder. */
  vector_file: z.string(),
  /** Precision of the matrix products (config `precision`; absent in records made before it existed: float32). */
  precision: z.enum(['float32', 'bfloat16', 'float16']).optional(),
});
export type SampleRecord = z.infer<typeof SampleRecordSchema>;

/** Per-step curves of a few texts (curves.jsonl), for the optimisation-curve figure. */
export const CurveRecordSchema = z.object({
  model: z.string(),
  source: z.string(),
  length: z.number(),
  n_mem: z.number(),
  sample_index: z.number(),
  loss: z.array(float()),
  accuracy: z.array(float()),
});
export type CurveRecord = z.infer<typeof CurveRecordSchema>;

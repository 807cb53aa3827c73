/**
 * The context-ablation kind's JSONL line: context-ablation.jsonl, one record per (text, condition): `context` rows (P,
 * tokens actually available, loss, accuracy) and `vectors` rows (the crammed text's best loss and accuracy, as the
 * paper reports them). results.csv: the schema's keys in order.
 */
import { z } from 'zod';
import { float } from '../../../results/record-schema.ts';

export const RECORD_FILE = 'context-ablation.jsonl';

export const ContextAblationRecordSchema = z.object({
  condition: z.enum(['context', 'vectors']),
  run: z.string(),
  model: z.string(),
  source: z.string(),
  length: z.number(),
  n_tokens: z.number(),
  sample_index: z.number(),
  /** Context tokens asked for (context rows; 0 for vectors rows). */
  context_tokens: z.number(),
  /** Context tokens the chunk had (≤ context_tokens; fewer when its first half is shorter). */
  n_context: z.number(),
  /** Vectors (vectors rows; 0 for context rows). */
  n_mem: z.number(),
  /** Mean CE over the text's N − 1 predictions (vectors rows: the lowest over the steps, the paper's best_loss). */
  loss: float(),
  /** Teacher-forced accuracy over the same predictions (vectors rows: the best over the steps). */
  accuracy: float(),
  /** The same text without context or vectors. */
  original_loss: float(),
  original_accuracy: float(),
  /** Vectors rows: loss of the kept vectors, steps, stop reason, exact greedy regeneration, vector file. */
  loss_at_best_accuracy: z.number().nullable(),
  steps: z.number().nullable(),
  stop_reason: z.string(),
  regenerated_exact: z.boolean().nullable(),
  vector_file: z.string(),
  seconds: float(),
});
export type ContextAblationRecord = z.infer<typeof ContextAblationRecordSchema>;

export const textBase = (model: string, source: string, length: number, index: number) =>
  `${model}|${source}|L${length}|i${index}`;
export const recordKey = (r: ContextAblationRecord) =>
  `${textBase(r.model, r.source, r.length, r.sample_index)}|${r.condition === 'context' ? `P${r.context_tokens}` : `K${r.n_mem}`}`;

/**
 * The side-effects kind's JSONL lines: side-effects.jsonl holds two record types: `donor` (a text crammed, then the
 * held-out texts read after its vectors and after random vectors of the same norm) and `reference` (the held-out texts
 * read after nothing, or after the mean token embedding). results.csv: one row per line, the scalar fields in ROW order.
 */
import { z } from 'zod';
import { float, withColumns } from '../../../results/record-schema.ts';

export const RECORD_FILE = 'side-effects.jsonl';

const common = {
  run: z.string(),
  model: z.string(),
  n_mem: z.number(),
  eval_source: z.string(),
  eval_length: z.number(),
  /** Source indices of the evaluation texts, in the order of the per-text arrays. */
  eval_indices: z.array(z.number()),
  /** Per evaluation text, without any prefix (the same in every record). */
  baseline_loss: z.array(float()),
  baseline_accuracy: z.array(float()),
};
export type Common = z.infer<z.ZodObject<typeof common>>;

export const DonorRecordSchema = z.object({
  ...common,
  record: z.literal('donor'),
  /** The donor text. */
  source: z.string(),
  length: z.number(),
  sample_index: z.number(),
  n_tokens: z.number(),
  best_accuracy: float(),
  best_loss: float(),
  steps: z.number(),
  stop_reason: z.string(),
  regenerated_exact: z.boolean().nullable(),
  /** L2 norm of the crammed vectors (all K). */
  vector_norm: float(),
  vector_file: z.string(),
  crammed_loss: z.array(float()),
  crammed_accuracy: z.array(float()),
  random_loss: z.array(float()),
  random_accuracy: z.array(float()),
  crammed_loss_mean: float(),
  crammed_accuracy_mean: float(),
  random_loss_mean: float(),
  random_accuracy_mean: float(),
  seconds: float(),
});
export type DonorRecord = z.infer<typeof DonorRecordSchema>;

export const ReferenceRecordSchema = z.object({
  ...common,
  record: z.literal('reference'),
  condition: z.enum(['none', 'mean_embedding']),
  /** Norm of the prefix (0 for none). */
  vector_norm: float(),
  loss: z.array(float()),
  accuracy: z.array(float()),
  loss_mean: float(),
  accuracy_mean: float(),
});
export type ReferenceRecord = z.infer<typeof ReferenceRecordSchema>;

/** results.csv: one row per line, every scalar field of both types in this order. */
const ROW = [
  'record',
  'condition',
  'run',
  'model',
  'n_mem',
  'source',
  'length',
  'sample_index',
  'n_tokens',
  'best_accuracy',
  'best_loss',
  'steps',
  'stop_reason',
  'regenerated_exact',
  'vector_norm',
  'eval_source',
  'eval_length',
  'crammed_loss_mean',
  'crammed_accuracy_mean',
  'random_loss_mean',
  'random_accuracy_mean',
  'loss_mean',
  'accuracy_mean',
  'vector_file',
  'seconds',
];

export const SideEffectsRecordSchema = withColumns(
  z.discriminatedUnion('record', [DonorRecordSchema, ReferenceRecordSchema]),
  ROW,
);
export type SideEffectsRecord = z.infer<typeof SideEffectsRecordSchema>;

export const donorKey = (model: string, source: string, length: number, nMem: number, index: number) =>
  `${model}|donor|${source}|L${length}|K${nMem}|i${index}`;
export const referenceKey = (model: string, condition: string, nMem: number) => `${model}|${condition}|K${nMem}`;
export const recordKey = (r: SideEffectsRecord) =>
  r.record === 'donor'
    ? donorKey(r.model, r.source, r.length, r.n_mem, r.sample_index)
    : referenceKey(r.model, r.condition, r.n_mem);

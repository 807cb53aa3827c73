/**
 * The solution-space kind's JSONL lines: solution-space.jsonl holds three record types, each with its own key, so a
 * kill loses at most the restarts in flight (restart: one text crammed from one start; text: the analysis of a text's
 * restarts; group: the cosines of a (model, source, L, K)). results.csv has one row per line, the scalar fields in
 * ROW order. The vector and trajectory files are safetensors (vectorFile, trajectoryFile).
 */
import { z } from 'zod';
import { fileSafe } from '../../../report/format.ts';
import { float, floatOrNull, withColumns } from '../../../results/record-schema.ts';

export const RECORD_FILE = 'solution-space.jsonl';

const where = {
  run: z.string(),
  model: z.string(),
  source: z.string(),
  length: z.number(),
  n_mem: z.number(),
};

export const RestartRecordSchema = z.object({
  record: z.literal('restart'),
  ...where,
  sample_index: z.number(),
  restart: z.number(),
  n_tokens: z.number(),
  /** Seed string of the initial vectors. */
  init_seed: z.string(),
  original_loss: float(),
  original_accuracy: float(),
  best_loss: float(),
  best_accuracy: float(),
  loss_at_best_accuracy: float(),
  steps: z.number(),
  best_step: z.number(),
  stop_reason: z.string(),
  regenerated_exact: z.boolean(),
  regenerated_prefix_tokens: z.number(),
  /** L2 norm of the kept vectors (all K together) and of the initial ones; cosine between the two. */
  vector_norm: float(),
  init_norm: float(),
  cos_init_solution: float(),
  /** This restart's own trajectory PCA (null without trajectories). */
  pc1_share: floatOrNull(),
  pc2_share: floatOrNull(),
  trajectory_points: z.number(),
  seconds: float(),
  embed_dim: z.number(),
  ids_sha256: z.string(),
  vector_file: z.string(),
  trajectory_file: z.string(),
});
export type RestartRecord = z.infer<typeof RestartRecordSchema>;

export const InterpolationPairSchema = z.object({
  restart_a: z.number(),
  restart_b: z.number(),
  accuracy: z.array(float()),
  loss: z.array(float()),
  /** Exact greedy regeneration at each point (empty when `regenerate: false`). */
  exact: z.array(z.boolean()),
  prefix_tokens: z.array(z.number()),
  /** ‖interpolated‖ / mean(‖a‖, ‖b‖) at each point. */
  norm_ratio: z.array(float()),
});
export type InterpolationPair = z.infer<typeof InterpolationPairSchema>;

export const TextRecordSchema = z.object({
  record: z.literal('text'),
  ...where,
  sample_index: z.number(),
  n_tokens: z.number(),
  restarts: z.number(),
  /** Kept accuracy of each restart (read from its vector file), by restart index. */
  restart_accuracy: z.array(float()),
  intra_cosine_mean: float(),
  intra_cosines: z.array(z.object({ restart_a: z.number(), restart_b: z.number(), cosine: float() })),
  alphas: z.array(z.number()),
  interpolation: z.array(InterpolationPairSchema),
  /** Mean over pairs of the accuracy at the midpoint (α = 0.5, or the point nearest to it). */
  mid_accuracy_mean: float(),
  /** Mean over pairs of the lowest accuracy along the line. */
  min_accuracy_mean: float(),
  /** Share of pairs whose midpoint regenerates the text exactly (null without regeneration). */
  mid_exact_share: floatOrNull(),
  /** Ends of the lines whose teacher-forced accuracy differs from the restart's kept accuracy (a self-check: 0). */
  endpoint_mismatches: z.number(),
  /** PCA of all restarts' trajectories of this text together (null without trajectories). */
  joint_pc1_share: floatOrNull(),
  joint_pc2_share: floatOrNull(),
  joint_pca: z.array(
    z.object({ restart: z.number(), steps: z.array(z.number()), pc1: z.array(float()), pc2: z.array(float()) }),
  ),
  seconds: float(),
});
export type TextRecord = z.infer<typeof TextRecordSchema>;

/** Every pair: [text_a, restart_a, text_b, restart_b, cosine]. */
const pairs = z.array(z.tuple([z.number(), z.number(), z.number(), z.number(), float()]));

export const GroupRecordSchema = z.object({
  record: z.literal('group'),
  ...where,
  texts: z.number(),
  solutions: z.number(),
  intra_cosine_mean: float(),
  intra_cosine_std: float(),
  inter_cosine_mean: float(),
  inter_cosine_std: float(),
  intra: pairs,
  inter: pairs,
});
export type GroupRecord = z.infer<typeof GroupRecordSchema>;

/** results.csv: one row per line, every scalar field of the three types in this order. */
const ROW = [
  'record',
  'run',
  'model',
  'source',
  'length',
  'n_mem',
  'sample_index',
  'restart',
  'n_tokens',
  'init_seed',
  'original_loss',
  'original_accuracy',
  'best_loss',
  'best_accuracy',
  'loss_at_best_accuracy',
  'steps',
  'best_step',
  'stop_reason',
  'regenerated_exact',
  'regenerated_prefix_tokens',
  'vector_norm',
  'init_norm',
  'cos_init_solution',
  'pc1_share',
  'pc2_share',
  'trajectory_points',
  'restarts',
  'intra_cosine_mean',
  'mid_accuracy_mean',
  'min_accuracy_mean',
  'mid_exact_share',
  'endpoint_mismatches',
  'joint_pc1_share',
  'joint_pc2_share',
  'texts',
  'solutions',
  'intra_cosine_std',
  'inter_cosine_mean',
  'inter_cosine_std',
  'seconds',
  'embed_dim',
  'ids_sha256',
  'vector_file',
  'trajectory_file',
];

export const SolutionSpaceRecordSchema = withColumns(
  z.discriminatedUnion('record', [RestartRecordSchema, TextRecordSchema, GroupRecordSchema]),
  ROW,
);
export type SolutionSpaceRecord = z.infer<typeof SolutionSpaceRecordSchema>;

export const groupKey = (model: string, source: string, length: number, nMem: number) =>
  `${model}|${source}|L${length}|K${nMem}`;
export const textKey = (g: string, index: number) => `${g}|i${index}`;
export const restartKey = (g: string, index: number, r: number) => `${textKey(g, index)}|r${r}`;
export const analysisKey = (g: string, index: number) => `${textKey(g, index)}|analysis`;
export const interKey = (g: string) => `${g}|cosines`;

export function recordKey(r: SolutionSpaceRecord): string {
  const g = groupKey(r.model, r.source, r.length, r.n_mem);
  if (r.record === 'restart') return restartKey(g, r.sample_index, r.restart);
  if (r.record === 'text') return analysisKey(g, r.sample_index);
  return interKey(g);
}

const stem = (model: string, source: string, nMem: number, length: number, index: number) =>
  `${model}/${fileSafe(source)}/K${nMem}/L${length}-i${index}`;
export const vectorFile = (model: string, source: string, nMem: number, length: number, index: number, r: number) =>
  `vectors/${stem(model, source, nMem, length, index)}-r${r}.safetensors`;
export const trajectoryFile = (model: string, source: string, nMem: number, length: number, index: number, r: number) =>
  `trajectories/${stem(model, source, nMem, length, index)}-r${r}.safetensors`;

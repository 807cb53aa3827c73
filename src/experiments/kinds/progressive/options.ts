/** The progressive kind's config fields (added to the common ones of src/config/schema.ts). */
import { z } from 'zod';
import { LIMITS, type ExperimentConfig } from '../../../config/schema.ts';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const PROGRESSIVE_OPTIONS = {
  /** Tokens (BOS counted) of each text's whole target; default the largest of `lengths`. At least that. */
  target_length: int(2, LIMITS.length).optional(),
  /** How the target grows: `linear` (+step per passed stage) or `doubling` (×2 until a stage fails, then bisection). */
  schedule: z.enum(['linear', 'doubling']).default('linear'),
  /** First stage length (tokens, BOS counted). */
  start_length: int(2, LIMITS.length).default(2),
  /** Linear: tokens added per stage. Doubling: bisection stops when the bracket is this narrow. */
  step: int(1, LIMITS.length).default(1),
  /** Forward/backward passes per stage (per attempt: a reset gives the stage as many again). */
  stage_steps: int(1, LIMITS.steps).default(500),
  /** Forward/backward passes per text over all its stages. */
  text_steps: int(1, LIMITS.steps).default(10_000),
  /** Restart the optimizer once in a stage before it counts as failed (the original's learning-rate reset). */
  lr_reset: z.boolean().default(true),
  /** Also cram the same texts from scratch at every length of `lengths` (the capacity kind's grid). */
  compare_capacity: z.boolean().default(true),
} as const;

const OptionsSchema = z.object(PROGRESSIVE_OPTIONS);
export const optionsOf = (c: ExperimentConfig) => OptionsSchema.parse(c);
export const targetLength = (c: ExperimentConfig) => optionsOf(c).target_length ?? Math.max(...c.lengths);

/** The solution-space kind's config fields (added to the common ones of src/config/schema.ts). */
import { z } from 'zod';
import type { ExperimentConfig } from '../../../config/schema.ts';

export const SOLUTION_SPACE_OPTIONS = {
  /** R: random restarts per text (distinct seeds). */
  restarts: z.number().int().min(2).max(1000).default(8),
  /** Points on the straight line between two restarts, both ends included (≥ 11 for the paper's Fig. 8). */
  interpolation_points: z.number().int().min(3).max(1001).default(11),
  /** Keep the vectors every this many optimisation steps, for the trajectory PCA (0: no trajectories, no PCA). */
  vectors_every: z.number().int().min(0).max(1_000_000).default(10),
};
const OptionsSchema = z.object(SOLUTION_SPACE_OPTIONS);
export type Config = ExperimentConfig & z.infer<typeof OptionsSchema>;

/** The side-effects kind's config fields (added to the common ones of src/config/schema.ts). */
import { z } from 'zod';
import { SourceSchema, type ExperimentConfig } from '../../../config/schema.ts';

export const SIDE_EFFECTS_OPTIONS = {
  /** M: held-out texts read with each prefix. */
  eval_texts: z.number().int().min(1).max(100_000).default(32),
  /** Their length in tokens (BOS counted). */
  eval_length: z.number().int().min(2).max(1_000_000).default(64),
  /** Where they come from (default the held-out books; after the donors when it is one of the donor sources). */
  eval_source: SourceSchema.default('gutenberg-heldout'),
};
export type Config = ExperimentConfig & {
  eval_texts: number;
  eval_length: number;
  eval_source: z.infer<typeof SourceSchema>;
};

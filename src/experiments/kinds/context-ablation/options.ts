/** The context-ablation kind's config fields (added to the common ones of src/config/schema.ts). */
import { z } from 'zod';
import type { ExperimentConfig } from '../../../config/schema.ts';

export const CONTEXT_ABLATION_OPTIONS = {
  /** Numbers P of real preceding tokens put before the text in place of the vectors (0: the no-vector baseline). */
  context_tokens: z
    .array(z.number().int().min(0).max(1_000_000))
    .min(1)
    .default([0, 16, 32, 64, 128, 512])
    .superRefine((xs, ctx) => {
      if (new Set(xs).size !== xs.length)
        ctx.addIssue({
          code: 'custom',
          message: 'a context length listed twice: its records would be made twice under one key',
        });
    }),
};
export type Config = ExperimentConfig & { context_tokens: number[] };

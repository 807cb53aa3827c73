/** The one-step kind's config fields (added to the common ones of src/config/schema.ts). */
import { z } from 'zod';
import { LIMITS, type ExperimentConfig } from '../../../config/schema.ts';
import { M_SHARING } from './records.ts';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const ONE_STEP_OPTIONS = {
  /** m per text, and/or shared by groups of `m_group_size` texts of the same source and length (each a separate record). */
  m_sharing: z
    .array(z.enum(M_SHARING))
    .min(1)
    .refine((xs) => new Set(xs).size === xs.length, { message: 'a value of m_sharing is listed twice' })
    .default(['per_text']),
  /** Texts sharing one m (shared mode), taken in text order. */
  m_group_size: int(1, LIMITS.batchTexts).default(8),
  /** Also cram the same texts autoregressively at the same lengths with each K of n_mem (the capacity kind's grid). */
  compare_autoregressive: z.boolean().default(true),
  /** Texts per (model, source, m_sharing, length) whose decoding time is measured (0: none). */
  timing_samples: int(0, LIMITS.texts).default(3),
  /** Timed runs per measurement (after one warm-up); the median is kept. */
  timing_repeats: int(1, 1000).default(5),
} as const;

const OptionsSchema = z.object(ONE_STEP_OPTIONS);
export const optionsOf = (c: ExperimentConfig) => OptionsSchema.parse(c);

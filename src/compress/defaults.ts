/** The compressor's defaults, kept apart from compress.ts so the CLI can show them without loading the engine. */
import { PAPER_OPTIMIZER } from '../config/schema.ts';

/** Measured on gutenberg-llama-s (natural text, accuracy 1.0 + exact greedy regeneration): see docs/compressor.md. */
export const DEFAULTS = {
  segmentTokens: 12,
  tokensPerVector: 3,
  maxSteps: 500,
  patience: 200,
  growth: 1.5,
  lr: PAPER_OPTIMIZER.lr,
  seed: 0,
  /** Progressive one-sequence growth (the memory service's default; `compress` crams 12-token segments). */
  progressive: false,
  /** Tokens added per passed stage of progressive growth: measured, see docs/compressor.md. */
  stageTokens: 16,
};

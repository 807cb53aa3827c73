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

/**
 * Largest K per segment when --max-mem is not given: this many vectors per predicted token (48 for a 12-token
 * segment). gutenberg-llama-s and -m pass held-out segments at K ≤ 9; gutenberg-llama-xs (d = 64, 2 layers) needs
 * up to about 3 per token (its best accuracy on some 8–12-token segments stays at 0.7–0.9 at K = tokens + 1; with this
 * cap it makes all of them exact: docs/compressor.md). A one-sequence text's cap stays its tokens + 1.
 */
export const SEGMENT_MAX_VECTORS_PER_TOKEN = 4;

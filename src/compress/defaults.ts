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
 * Largest K per segment, or for a text crammed as one sequence, when --max-mem is not given: this many vectors per
 * predicted token (48 for a 12-token segment). gutenberg-llama-s and -m stay near or under 1 per token on held-out
 * text; gutenberg-llama-xs (d = 64, 2 layers) needs up to about 3: some 8-12-token held-out segments stay at accuracy
 * 0.7-0.9 with tokens + 1 vectors and are exact with more, and 5 of 8 11-token openings of held-out books were not
 * exact as one sequence at K = 12 and all were at K = 9-32 (docs/compressor.md). Escalation stops long before it on
 * a text the model cannot hold (escalate.ts).
 */
export const VECTORS_PER_TOKEN_CAP = 4;

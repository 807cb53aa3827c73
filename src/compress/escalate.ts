/**
 * What a text crammed as one sequence (progressive growth, compress.ts) does after a round that ended short of its
 * whole text: more steps, more vectors, or stop. Pure, so that the schedule is tested without a model
 * (test/compress/escalate.test.ts); docs/compressor.md gives the measurements behind each rule.
 */

/**
 * More vectors are tried only while the model keeps at least this many tokens per vector: the next K at most
 * (passed + stageTokens) / MIN_TOKENS_PER_VECTOR, one stage of slack on what the last K reproduced. Measured at the round
 * a K failed (docs/compressor.md): gutenberg-llama-s 1.3–2.1 tokens per vector, stories260K 2.7, gutenberg-llama-xs
 * 0–0.6 (0 tokens of a 50-token paragraph at K = 17 and K = 26, 16–32 tokens at K = 29–56). Below half a token per
 * vector a text needs more than two vectors per token, if it fits at all, and every larger K is a whole round from the
 * first stage. The stage of slack keeps short texts trying more Ks (xs passes a 16-token sentence at K = 17 after
 * failing at K = 6, 9 and 14; 11-token texts at K = 9–32 with nothing passed before).
 */
export const MIN_TOKENS_PER_VECTOR = 0.5;

export interface RoundEnd {
  /** K of the round that ended. */
  K: number;
  /** The round's steps per stage. */
  stageSteps: number;
  /** Tokens greedy regeneration reproduced exactly at the round's end (the passed stage, first token not counted). */
  passedTokens: number;
  /** The round stopped because the loss became non-finite. */
  diverged: boolean;
}

export interface EscalationLimits {
  /** Steps per stage of a K's first round (--max-steps). */
  baseSteps: number;
  /** Most steps per stage (--max-steps-ceiling). */
  stepsCeiling: number;
  /** Largest K (--max-mem, else 4 × the text's tokens; or the model's positions). */
  cap: number;
  /** K × growth (at least +1) for the next K. */
  growth: number;
  /** Tokens per stage. */
  stageTokens: number;
}

export type Escalation =
  /** The failed stage again, same K, from the vectors that passed the stage before it, with more steps per stage. */
  | { next: 'steps'; stageSteps: number }
  /** More vectors, from a fresh draw and the first stage. */
  | { next: 'vectors'; K: number }
  /**
   * Stop: 'diverged' (non-finite loss), 'limit' (K at the cap, steps at their ceiling), 'rate' (fewer than
   * MIN_TOKENS_PER_VECTOR: the next K would be `K`, more than (passed + one stage) / MIN_TOKENS_PER_VECTOR).
   */
  | { next: 'stop'; why: 'diverged' | 'limit' | 'rate'; K?: number };

/**
 * After a round short of the whole text: one step escalation per K (twice the base steps, within the ceiling;
 * measured, a stage failing near a K's capacity is rarely passed by more steps), then K × growth from fresh vectors,
 * while the model keeps at least MIN_TOKENS_PER_VECTOR; else stop.
 */
export function escalate(r: RoundEnd, l: EscalationLimits): Escalation {
  if (r.diverged) return { next: 'stop', why: 'diverged' };
  const moreSteps = Math.min(l.stepsCeiling, l.baseSteps * 2);
  if (moreSteps > r.stageSteps) return { next: 'steps', stageSteps: moreSteps };
  if (r.K >= l.cap) return { next: 'stop', why: 'limit' };
  const K = Math.min(l.cap, Math.max(r.K + 1, Math.ceil(r.K * l.growth)));
  if (K > (r.passedTokens + l.stageTokens) / MIN_TOKENS_PER_VECTOR) return { next: 'stop', why: 'rate', K };
  return { next: 'vectors', K };
}

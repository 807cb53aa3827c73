/**
 * What a text crammed as one sequence (progressive growth, compress.ts) does after a round that ended short of its
 * whole text: more steps, more vectors, or stop. Pure, so that the schedule is tested without a model
 * (test/compress/escalate.test.ts); docs/compressor.md gives the measurements behind each rule.
 */

/**
 * More vectors are tried only while the next K stays within this many vectors per token of what the last K
 * reproduced plus one stage: (passed + stageTokens) × 2 ≥ next K. Measured at the round a K failed (docs/compressor.md):
 * gutenberg-llama-s 1.3–1.9 tokens per vector, stories260K 2.7, gutenberg-llama-xs 0–0.6 (0 tokens of a 50-token
 * paragraph at K = 17 and K = 26, 16–32 tokens at K = 29–56): below half a token per vector the text would need more
 * vectors than the cap long before it is done, and each K is a whole round. The one stage of slack keeps short texts
 * trying more Ks (xs passes a 16-token sentence at K = 17 after failing at K = 6, 9 and 14; 11-token texts at
 * K = 9-32 with nothing passed before).
 */
export const MAX_VECTORS_PER_TOKEN = 2;

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
   * Stop: 'diverged' (non-finite loss), 'limit' (K at the cap, steps at their ceiling), 'rate' (fewer than half a
   * token per vector: the next K would be `K`, more than MAX_VECTORS_PER_TOKEN × (passed + one stage)).
   */
  | { next: 'stop'; why: 'diverged' | 'limit' | 'rate'; K?: number };

/**
 * After a round short of the whole text: one step escalation per K (twice the base steps, within the ceiling;
 * measured, a stage failing near a K's capacity is rarely passed by more steps), then K × growth from fresh vectors,
 * while the model keeps at least half a token per vector; else stop.
 */
export function escalate(r: RoundEnd, l: EscalationLimits): Escalation {
  if (r.diverged) return { next: 'stop', why: 'diverged' };
  const moreSteps = Math.min(l.stepsCeiling, l.baseSteps * 2);
  if (moreSteps > r.stageSteps) return { next: 'steps', stageSteps: moreSteps };
  if (r.K >= l.cap) return { next: 'stop', why: 'limit' };
  const K = Math.min(l.cap, Math.max(r.K + 1, Math.ceil(r.K * l.growth)));
  if (K > MAX_VECTORS_PER_TOKEN * (r.passedTokens + l.stageTokens)) return { next: 'stop', why: 'rate', K };
  return { next: 'vectors', K };
}

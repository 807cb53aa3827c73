/** The solution-space geometry: points on the line between two solutions, and cosines between solutions. */
import { cosineSimilarity } from '../../../metrics/stats.ts';

/** (1 − α)·a + α·b in float32; α = 0 gives a and α = 1 gives b exactly. */
export function interpolate(a: Float32Array, b: Float32Array, alpha: number): Float32Array {
  if (a.length !== b.length) throw new Error(`interpolating vectors of ${a.length} and ${b.length} values`);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (1 - alpha) * a[i] + alpha * b[i];
  return out;
}

/** n points from 0 to 1, both included. */
export const alphas = (n: number): number[] => Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : i / (n - 1)));

export interface CosinePair {
  text_a: number;
  restart_a: number;
  text_b: number;
  restart_b: number;
  cosine: number;
}

/** Cosines of every pair of solutions: `intra` (same text, restart_a < restart_b) and `inter` (different texts). */
export function solutionCosines(solutions: readonly { text: number; restart: number; vector: ArrayLike<number> }[]): {
  intra: CosinePair[];
  inter: CosinePair[];
} {
  const intra: CosinePair[] = [];
  const inter: CosinePair[] = [];
  for (let i = 0; i < solutions.length; i++) {
    for (let j = i + 1; j < solutions.length; j++) {
      const a = solutions[i];
      const b = solutions[j];
      const pair = {
        text_a: a.text,
        restart_a: a.restart,
        text_b: b.text,
        restart_b: b.restart,
        cosine: cosineSimilarity(a.vector, b.vector),
      };
      (a.text === b.text ? intra : inter).push(pair);
    }
  }
  return { intra, inter };
}

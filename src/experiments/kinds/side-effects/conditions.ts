/** What the held-out texts are read after: the four prefixes of the side-effects study. */
import { seededNormal } from '../../../cram/init.ts';
import { norm } from '../../../metrics/stats.ts';

export const CONDITIONS = ['none', 'crammed', 'random_same_norm', 'mean_embedding'] as const;
export type Condition = (typeof CONDITIONS)[number];
export const CONDITION_LABELS: Record<Condition, string> = {
  none: '(a) nothing',
  crammed: '(b) vector crammed for another text',
  random_same_norm: '(c) random, same norm',
  mean_embedding: '(d) mean token embedding',
};

/** K random vectors with the row norms of `like` ([K·d]), from a named seed. */
export function randomSameNorm(like: Float32Array, nMem: number, seed: string): Float32Array {
  const d = like.length / nMem;
  const out = seededNormal(like.length, seed);
  for (let k = 0; k < nMem; k++) {
    const target = norm(like.subarray(k * d, (k + 1) * d));
    const have = norm(out.subarray(k * d, (k + 1) * d));
    for (let j = k * d; j < (k + 1) * d; j++) out[j] = (out[j] / have) * target;
  }
  return out;
}

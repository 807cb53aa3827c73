/** Seeded [mem] initialisation: randn(K, d) × std(whole input-embedding matrix), as in the paper's code. */
import seedrandom from 'seedrandom';

/**
 * A standard-normal Float32Array from a named seed (Box–Muller over seedrandom's alea generator). Each text gets its
 * own stream, so its initial vectors do not depend on which other texts share its batch.
 */
export function seededNormal(count: number, seed: string): Float32Array {
  const rng = seedrandom.alea(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = Math.max(rng(), Number.MIN_VALUE);
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

export function initMemory(K: number, d: number, embeddingStd: number, seed: string): Float32Array {
  const x = seededNormal(K * d, seed);
  for (let i = 0; i < x.length; i++) x[i] *= embeddingStd;
  return x;
}

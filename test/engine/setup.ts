/** Setup the engine's gradient tests share: one single-threaded CPU runtime per file, and seeded random numbers. */
import { initRuntime, type Runtime } from '../../src/engine/runtime.ts';

let runtime: Promise<Runtime> | null = null;
/** One CPU runtime for the file; one thread per session (the graphs are tiny, threads only add overhead). */
export function rt(): Promise<Runtime> {
  return (runtime ??= initRuntime('cpu').then((r) => ({ ...r, threads: 1 })));
}

/** mulberry32, seeded from a string: every case gets its own fixed data. */
export function rng(seed: string): () => number {
  let a = 2166136261;
  for (const ch of seed) a = Math.imul(a ^ ch.charCodeAt(0), 16777619);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

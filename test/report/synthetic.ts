/**
 * Synthetic SampleRecord/CurveRecord sets for tests and for previewing the report without a model run.
 * Each model has a fixed capacity in nats per vector: texts whose CE fits are "lossless", the rest
 * keep CE ≈ original − capacity (the paper's Fig. 3 behaviour).
 */
import type { CurveRecord, SampleRecord } from '../../src/results/sample-record.ts';

export interface SyntheticModel {
  model: string;
  embed_dim: number;
  embedding_rows: number;
  /** Information gain per vector, nats. */
  natsPerVector: number;
}

export interface SyntheticOptions {
  models?: SyntheticModel[];
  sources?: string[];
  lengths?: number[];
  nMem?: number[];
  samplesPerLength?: number;
  seed?: number;
  run?: string;
}

export const SYNTHETIC_MODELS: SyntheticModel[] = [
  { model: 'pythia-s', embed_dim: 768, embedding_rows: 50304, natsPerVector: 300 },
  { model: 'llama-m', embed_dim: 2048, embedding_rows: 128256, natsPerVector: 1100 },
];

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticRecords(opts: SyntheticOptions = {}): SampleRecord[] {
  const models = opts.models ?? SYNTHETIC_MODELS;
  const sources = opts.sources ?? ['gutenberg-heldout', 'random-words'];
  const lengths = opts.lengths ?? [64, 128, 256];
  const nMem = opts.nMem ?? [1, 2];
  const per = opts.samplesPerLength ?? 1;
  const rand = rng(opts.seed ?? 1);
  const out: SampleRecord[] = [];
  for (const m of models) {
    for (const source of sources) {
      const random = source.startsWith('random');
      for (const K of nMem) {
        for (const L of lengths) {
          for (let i = 0; i < per; i++) {
            // Random-word texts have their own sampled length around the grid point.
            const N = random ? Math.max(8, Math.round(L * (0.7 + 0.6 * rand()))) : L;
            const origLoss = (random ? 6.5 : 3.2) + 0.6 * (rand() - 0.5);
            const origAcc = random ? 0.08 + 0.05 * rand() : 0.33 + 0.08 * rand();
            const originalCe = origLoss * N;
            const cap = m.natsPerVector * K * (0.9 + 0.2 * rand());
            const lossless = originalCe < cap;
            const compressedCe = lossless ? 0.02 * N * rand() : originalCe - cap + 20 * (rand() - 0.5);
            const bestAcc = lossless
              ? rand() < 0.8
                ? 1
                : 0.992
              : Math.min(0.985, Math.max(origAcc, 1 - (compressedCe / originalCe) * 0.9));
            const bestLoss = compressedCe / N;
            out.push({
              run: opts.run ?? 'synthetic',
              model: m.model,
              source,
              length: N,
              n_tokens: N,
              n_mem: K,
              sample_index: i,
              seed: 1,
              original_loss: origLoss,
              original_accuracy: origAcc,
              best_loss: bestLoss,
              best_accuracy: bestAcc,
              loss_at_best_accuracy: bestLoss,
              original_ce: originalCe,
              compressed_ce: compressedCe,
              info_gain_nats: originalCe - compressedCe,
              info_gain_bits: (originalCe - compressedCe) / Math.LN2,
              token_gain: (bestAcc - origAcc) * N,
              steps: 1000,
              best_step: 900,
              stop_reason: bestAcc === 1 ? 'solved' : 'max_steps',
              regenerated_exact: bestAcc === 1,
              regenerated_prefix_tokens: bestAcc === 1 ? N : Math.floor(N * rand()),
              seconds: 1 + rand(),
              embed_dim: m.embed_dim,
              embedding_rows: m.embedding_rows,
              ids_sha256: `${m.model}-${source}-${L}-${i}`,
              vector_file: `vectors/${m.model}-${source}-${L}-${K}-${i}.bin`,
            });
          }
        }
      }
    }
  }
  return out;
}

/** Curves that decay like a typical run: loss falls roughly exponentially, accuracy rises towards its best. */
export function syntheticCurves(records: readonly SampleRecord[], count = 4, steps = 300): CurveRecord[] {
  const stride = Math.max(1, Math.floor(records.length / count));
  const picked = records.filter((_, i) => i % stride === 0).slice(0, count);
  return picked.map((r, j) => {
    const loss: number[] = [];
    const accuracy: number[] = [];
    const rate = 40 + 25 * j;
    for (let s = 0; s < steps; s++) {
      const f = Math.exp(-s / rate);
      loss.push(r.best_loss + (r.original_loss - r.best_loss) * f);
      accuracy.push(r.best_accuracy - (r.best_accuracy - r.original_accuracy) * f);
    }
    return {
      model: r.model,
      source: r.source,
      length: r.length,
      n_mem: r.n_mem,
      sample_index: r.sample_index,
      loss,
      accuracy,
    };
  });
}

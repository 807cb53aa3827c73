/**
 * Teacher-forced evaluation and greedy regeneration of many rows on a loaded model, cut into engine calls within the
 * config's `batch` limits (src/cram/batch-loop.ts's chunkRows): what the analysis kinds measure vectors with.
 */
import type { ExperimentConfig } from '../config/schema.ts';
import { chunkRows } from '../cram/batch-loop.ts';
import type { ModelSession, Regeneration } from '../run/model-session.ts';

export interface EvalRow {
  memory: Float32Array | null;
  ids: number[];
}
export interface EvalResult {
  loss: number;
  accuracy: number;
  correct: number;
  tokenCe: number[];
}

/** Teacher-forced loss, accuracy, correct count and per-token CE of rows sharing K (memory null when K = 0). */
export async function evaluateRows(
  session: ModelSession,
  nMem: number,
  rows: readonly EvalRow[],
  batch: ExperimentConfig['batch'],
): Promise<EvalResult[]> {
  const out: EvalResult[] = [];
  const size = nMem * session.embedDim;
  for (const chunk of chunkRows(rows, (r) => nMem + r.ids.length, batch.max_tokens, batch.max_texts)) {
    let memory: Float32Array | null = null;
    if (nMem > 0) {
      memory = new Float32Array(chunk.length * size);
      chunk.forEach((r, i) => {
        if (!r.memory || r.memory.length !== size)
          throw new Error(`vectors hold ${r.memory?.length ?? 0} values, expected ${nMem}×${session.embedDim}`);
        memory!.set(r.memory, i * size);
      });
    }
    const res = await session.evaluateMany(
      memory,
      nMem,
      chunk.map((r) => r.ids),
    );
    res.forEach((r, i) => out.push({ ...r, correct: Math.round(r.accuracy * (chunk[i].ids.length - 1)) }));
  }
  return out;
}

/** Exact greedy regeneration of rows sharing K, batched. */
export async function regenerateRows(
  session: ModelSession,
  nMem: number,
  rows: readonly { memory: Float32Array; ids: number[] }[],
  batch: ExperimentConfig['batch'],
): Promise<Regeneration[]> {
  const out: Regeneration[] = [];
  for (const chunk of chunkRows(rows, (r) => nMem + r.ids.length, batch.max_tokens, batch.max_texts))
    out.push(...(await session.regenerateMany(nMem, chunk)));
  return out;
}

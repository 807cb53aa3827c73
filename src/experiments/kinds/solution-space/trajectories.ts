/** The trajectory files of the solution-space kind: the vectors every `vectors_every` steps of one restart. */
import { writeFileAtomic } from '../../../files.ts';
import { readSafetensorsFile, serializeSafetensors } from '../../../models/safetensors.ts';
import type { CramOutcome } from '../../../run/model-session.ts';

export function writeTrajectory(
  path: string,
  steps: number[],
  vectors: Float32Array[],
  nMem: number,
  d: number,
  meta: Record<string, string>,
): void {
  const flat = new Float32Array(vectors.length * nMem * d);
  vectors.forEach((v, i) => flat.set(v, i * nMem * d));
  writeFileAtomic(
    path,
    serializeSafetensors(
      {
        vectors: { shape: [vectors.length, nMem, d], data: flat },
        steps: { shape: [steps.length], data: Float32Array.from(steps) },
      },
      { format: 'cramming-trajectory/1', ...meta },
    ),
  );
}

export function readTrajectory(path: string): { steps: number[]; vectors: Float32Array[] } {
  const { tensors } = readSafetensorsFile(path);
  const v = tensors.get('vectors');
  const s = tensors.get('steps');
  if (!v || !s || v.shape.length !== 3 || s.shape[0] !== v.shape[0])
    throw new Error(`${path}: not a trajectory file (tensors "vectors" [T, K, d] and "steps" [T])`);
  const size = v.shape[1] * v.shape[2];
  return {
    steps: Array.from(s.data),
    vectors: Array.from({ length: v.shape[0] }, (_, i) => v.data.slice(i * size, (i + 1) * size)),
  };
}

/** The trajectory of a finished restart: the snapshots, then the kept vectors when they came after the last one. */
export function trajectoryOf(o: CramOutcome): { steps: number[]; vectors: Float32Array[] } | null {
  const t = o.vectorTrajectory;
  if (!t) return null;
  const steps = [...t.steps];
  const vectors = [...t.vectors];
  // The kept vectors were measured at step bestStep, i.e. after bestStep − 1 updates.
  const keptAt = o.bestStep - 1;
  if (keptAt > steps[steps.length - 1]) {
    steps.push(keptAt);
    vectors.push(Float32Array.from(o.memory));
  }
  return { steps, vectors };
}

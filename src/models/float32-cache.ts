/**
 * Half-precision weights (bf16, fp16: most checkpoints on the Hugging Face hub) as one float32 file in the cache.
 *
 * Casting inside the graph works, but ONNX Runtime then folds the cast into a private float32 copy per session, and a
 * model has two or three sessions (step, evaluation, decoding): three copies of a 1B model's 5 GB. A float32 file is
 * memory-mapped instead, so every session shares one copy through the page cache, and sessions start in seconds
 * (no folding). It is written once per model (keyed by the weights' SHA-256), tensor by tensor, atomically; float32
 * checkpoints are used in place and never copied. CRAM_FLOAT32_CACHE=off keeps the in-graph cast.
 */
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  statfsSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../engine/cache.ts';
import { toFloat32, type WeightEntry, type Weights } from './weights.ts';

const ALIGN = 64;

/** Whether the weights need converting (any tensor stored in half precision). */
export function needsFloat32Cache(weights: Weights): boolean {
  return process.env.CRAM_FLOAT32_CACHE !== 'off' && [...weights.entries.values()].some((e) => e.dtype !== 'float32');
}

/**
 * Points `weights` at a float32 copy in the cache (writing it first if absent). Returns the file, or null when the
 * cache has no room (the in-graph cast is then used) — `onProgress` hears the bytes written.
 */
export function useFloat32Cache(
  weights: Weights,
  weightsSha256: string,
  onProgress?: (done: number, total: number) => void,
): string | null {
  const entries = [...weights.entries.values()];
  const layout: { entry: WeightEntry; offset: number; length: number }[] = [];
  let size = 0;
  for (const e of entries) {
    const length = e.shape.reduce((a, b) => a * b, 1) * 4;
    layout.push({ entry: e, offset: size, length });
    size += Math.ceil(length / ALIGN) * ALIGN;
  }
  const dir = cacheDir('float32-weights');
  const file = join(dir, `${weightsSha256.slice(0, 32)}.f32`);
  if (!existsSync(file) || statSync(file).size !== size) {
    try {
      const fs = statfsSync(dir);
      if (fs.bavail * fs.bsize < size * 1.05) return null;
    } catch {
      /* statfs unsupported: try anyway */
    }
    const tmp = `${file}.${process.pid}.tmp`;
    const out = openSync(tmp, 'w');
    try {
      let written = 0;
      for (const { entry, offset, length } of layout) {
        const chunkElems = 1 << 22;
        const width = entry.dtype === 'float32' ? 4 : 2;
        const count = length / 4;
        const fd = openSync(entry.file, 'r');
        try {
          for (let start = 0; start < count; start += chunkElems) {
            const n = Math.min(chunkElems, count - start);
            const raw = Buffer.alloc(n * width);
            readSync(fd, raw, 0, n * width, entry.offset + start * width);
            const f32 = toFloat32(raw, entry.dtype, n);
            writeSync(out, new Uint8Array(f32.buffer, f32.byteOffset, n * 4), 0, n * 4, offset + start * 4);
            written += n * 4;
            onProgress?.(written, size);
          }
        } finally {
          closeSync(fd);
        }
      }
      // The full size (alignment padding included) says the file is complete.
      ftruncateSync(out, size);
    } finally {
      closeSync(out);
    }
    renameSync(tmp, file);
  }
  weights.redirect(layout.map(({ entry, offset, length }) => ({ ...entry, dtype: 'float32', file, offset, length })));
  return file;
}

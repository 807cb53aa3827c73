/**
 * SHA-256 of a model's weight bytes (files in order): identifies the model in vector and .mem files and keys the graph
 * cache. Hashing a multi-gigabyte checkpoint takes seconds, so the digest is cached by (real path, size, mtime).
 * The same goes for the check that every weight is finite.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, writeCacheFile } from '../engine/cache.ts';
import { SafetensorsError } from './safetensors.ts';
import { readFloat32, type WeightEntry } from './weights.ts';

function statKey(files: string[]): string {
  return files
    .map((f) => {
      const real = realpathSync(f);
      const st = statSync(real);
      return `${real}:${st.size}:${st.mtimeMs}`;
    })
    .join('|');
}

export function weightsSha256(files: string[]): string {
  const key = createHash('sha256').update(statKey(files)).digest('hex').slice(0, 32);
  const cached = join(cacheDir('fingerprints'), `${key}.txt`);
  if (existsSync(cached)) {
    const v = readFileSync(cached, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(v)) return v;
  }
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(16 << 20);
  for (const f of files) {
    const fd = openSync(f, 'r');
    try {
      let pos = 0;
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, pos);
        if (n <= 0) break;
        hash.update(chunk.subarray(0, n));
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  const digest = hash.digest('hex');
  try {
    writeCacheFile(cached, digest);
  } catch {
    /* a read-only cache only costs time */
  }
  return digest;
}

/**
 * Refuses weights holding NaN or ±Infinity, naming the tensor and the first bad index: one pass over the bytes, by
 * exponent bits (all ones), cached like the digest so that it runs once per checkpoint.
 */
export function assertFiniteWeights(entries: WeightEntry[], files: string[]): void {
  const key = createHash('sha256')
    .update(`finite|${statKey(files)}`)
    .digest('hex')
    .slice(0, 32);
  const cached = join(cacheDir('fingerprints'), `${key}.finite`);
  if (existsSync(cached)) return;
  const chunk = Buffer.alloc(16 << 20);
  for (const e of entries) {
    const width = e.dtype === 'float32' ? 4 : 2;
    const fd = openSync(e.file, 'r');
    try {
      for (let done = 0; done < e.length;) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, e.length - done), e.offset + done);
        if (n <= 0) throw new SafetensorsError(`${e.file}: unexpected end of file in tensor "${e.name}"`);
        const aligned = new Uint8Array(n - (n % width));
        aligned.set(chunk.subarray(0, aligned.length));
        const bad =
          width === 4
            ? firstNonFinite32(new Uint32Array(aligned.buffer))
            : firstNonFinite16(new Uint16Array(aligned.buffer), e.dtype === 'bfloat16');
        if (bad >= 0) {
          const index = done / width + bad;
          const value = readFloat32({ ...e, offset: e.offset + index * width, length: width, shape: [1] })[0];
          throw new SafetensorsError(
            `${e.file}: tensor "${e.name}" holds ${value} at index ${index}; non-finite weights or vectors are refused (corrupt or diverged file)`,
          );
        }
        done += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  try {
    writeCacheFile(cached, 'ok');
  } catch {
    /* a read-only cache only costs time */
  }
}

function firstNonFinite32(u: Uint32Array): number {
  for (let i = 0; i < u.length; i++) if ((u[i] & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

function firstNonFinite16(h: Uint16Array, bf16: boolean): number {
  const mask = bf16 ? 0x7f80 : 0x7c00;
  for (let i = 0; i < h.length; i++) if ((h[i] & mask) === mask) return i;
  return -1;
}

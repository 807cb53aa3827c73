/**
 * SHA-256 of a model's weight bytes (files in order): identifies the model in vector and .mem files and keys the graph
 * cache. Hashing a multi-gigabyte checkpoint takes seconds, so the digest is cached by (real path, size, mtime).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, writeCacheFile } from '../engine/cache.ts';

function statKey(files: string[]): string {
  return files.map((f) => {
    const real = realpathSync(f);
    const st = statSync(real);
    return `${real}:${st.size}:${st.mtimeMs}`;
  }).join('|');
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
  try { writeCacheFile(cached, digest); } catch { /* a read-only cache only costs time */ }
  return digest;
}

/**
 * The harness's on-disk cache (built graphs, weight fingerprints): CRAM_CACHE_DIR, else $XDG_CACHE_HOME/cramming-harness,
 * else ~/.cache/cramming-harness. Everything in it can be deleted at any time; it is rebuilt on demand.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheDir(...sub: string[]): string {
  const base =
    process.env.CRAM_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cramming-harness');
  const dir = join(base, ...sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes a cache file atomically (temp + rename): a reader never sees half a file. */
export function writeCacheFile(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

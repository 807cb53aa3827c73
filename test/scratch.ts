/**
 * Test setup that needs no tensor engine (test/helpers.ts starts one): a temporary folder removed when its test or
 * file ends, and environment variables set for the length of one call.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A new empty folder under the OS's temporary folder, removed when `scope` ends: pass a test's context `t` for one
 * test, or `test` itself (node:test) for the whole file.
 */
export function tmpFolder(scope: { after: (fn: () => void) => void }, prefix = 'cram-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scope.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs fn with the environment variables set (undefined: unset), then puts back what was there. */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T | Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

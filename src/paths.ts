/**
 * Where the project's own files are, and how a model name becomes a folder. No tensor code here: config validation
 * and planning use it without loading the engine.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLED_MODELS_DIR = join(PROJECT_ROOT, 'models');

export function bundledModelNames(): string[] {
  if (!existsSync(BUNDLED_MODELS_DIR)) return [];
  return readdirSync(BUNDLED_MODELS_DIR).filter((n) => statSync(join(BUNDLED_MODELS_DIR, n)).isDirectory()).sort();
}

/** A bundled name or a path → an existing folder, or an error that lists what exists. */
export function resolveModelDir(nameOrPath: string): string {
  if (existsSync(nameOrPath) && statSync(nameOrPath).isDirectory()) return resolve(nameOrPath);
  const bundled = join(BUNDLED_MODELS_DIR, nameOrPath);
  if (existsSync(bundled) && statSync(bundled).isDirectory()) return bundled;
  throw new Error(`model "${nameOrPath}" is neither a folder nor a bundled model; bundled: ${bundledModelNames().join(', ') || '(none)'}`);
}

/** A llama2.c folder's checkpoint (*.bin not starting with "tok") and tokenizer (tok*.bin), or null. */
export function findLlama2c(dir: string): { checkpoint: string; tokenizer: string | null } | null {
  const files = readdirSync(dir);
  const ckpt = files.find((f) => f.endsWith('.bin') && !f.startsWith('tok'));
  if (!ckpt) return null;
  const tok = files.find((f) => /^tok.*\.bin$/.test(f));
  return { checkpoint: join(dir, ckpt), tokenizer: tok ? join(dir, tok) : null };
}

/**
 * Where the project's own files are, and how a model name becomes a folder. No tensor code here: config validation
 * and planning use it without loading the engine.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hubRepoName, isHubId, resolveHubModel } from './hub-cache.ts';

/** The project folder (CRAM_PROJECT_ROOT overrides it for bundled builds, e.g. the device benchmark). */
export const PROJECT_ROOT =
  process.env.CRAM_PROJECT_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUNDLED_MODELS_DIR = join(PROJECT_ROOT, 'models');

export function bundledModelNames(): string[] {
  if (!existsSync(BUNDLED_MODELS_DIR)) return [];
  return readdirSync(BUNDLED_MODELS_DIR)
    .filter((n) => statSync(join(BUNDLED_MODELS_DIR, n)).isDirectory())
    .sort();
}

/**
 * A model argument → an existing folder: a path, a bundled name (models/<name>), or a Hugging Face hub id `org/name`
 * found in the local hub cache (hub-cache.ts; nothing is downloaded). Otherwise an error that says what was
 * searched.
 */
export function resolveModelDir(nameOrPath: string): string {
  if (existsSync(nameOrPath) && statSync(nameOrPath).isDirectory()) return resolve(nameOrPath);
  const bundled = join(BUNDLED_MODELS_DIR, nameOrPath);
  if (existsSync(bundled) && statSync(bundled).isDirectory()) return bundled;
  if (isHubId(nameOrPath)) return resolveHubModel(nameOrPath);
  throw new Error(
    `model "${nameOrPath}" is neither a folder nor a bundled model; bundled: ${bundledModelNames().join(', ') || '(none)'}`,
  );
}

/** The name a model folder goes by in results: the repo name for a hub cache snapshot, else the folder's name. */
export function modelName(dir: string): string {
  return hubRepoName(dir) ?? basename(dir);
}

/** A llama2.c folder's checkpoint (*.bin not starting with "tok") and tokenizer (tok*.bin), or null. */
export function findLlama2c(dir: string): { checkpoint: string; tokenizer: string | null } | null {
  const files = readdirSync(dir);
  const ckpt = files.find((f) => f.endsWith('.bin') && !f.startsWith('tok'));
  if (!ckpt) return null;
  const tok = files.find((f) => /^tok.*\.bin$/.test(f));
  return { checkpoint: join(dir, ckpt), tokenizer: tok ? join(dir, tok) : null };
}

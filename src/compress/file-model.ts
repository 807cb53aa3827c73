/**
 * Which model a `.mem` or `.ac` file is opened with (issue 26): a file names its model by identity (the name, the
 * weights' SHA-256 and the tokenizer's fingerprint) and never chooses a folder on disk. The model is the one the user
 * points to (`--model`), else the bundled model of that name (models/<name>) or the Hugging Face hub cache entry of
 * that id — looked up by name, never as a path, so a `model` field like "../x" or "/tmp/evil" opens nothing.
 * Mismatch messages say what differs (name, weights fingerprint, tokenizer).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeModel } from '../experiments/model-info.ts';
import { isHubId, resolveHubModel } from '../models/hf-cache.ts';
import { MemoryFileError, validateForModel, type MemoryFile } from './memory-file.ts';
import { BUNDLED_MODELS_DIR, bundledModelNames } from '../paths.ts';

/** A file's claim about its model. */
export interface ModelIdentity {
  model: string;
  modelSha256: string;
  tokenizerSha256: string;
}

export class FileModelError extends Error {}

const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const short = (h: string) => `${String(h).slice(0, 12)}…`;

/**
 * The model argument to open `file` with: `given` (the user's --model) as is, else the model the file names, found
 * among the bundled models or in the hub cache by name. A name that looks like a path, or that names no known model,
 * is refused with a message saying what to pass.
 */
export function modelForFile(id: ModelIdentity, given: string | undefined, file: string): string {
  if (given !== undefined) return given;
  const name = id.model;
  const what = `the model whose weights hash to ${short(id.modelSha256)}`;
  if (typeof name !== 'string' || name === '' || name.length > 200) {
    throw new FileModelError(`${file} does not name its model (made by an older or another program); pass --model <folder or bundled name> (${what})`);
  }
  if (PLAIN_NAME.test(name) && name !== '.' && name !== '..') {
    const dir = join(BUNDLED_MODELS_DIR, name);
    if (existsSync(dir) && statSync(dir).isDirectory()) return dir;
  }
  if (isHubId(name)) {
    try {
      return resolveHubModel(name);
    } catch { /* not in the hub cache: fall through to the message */ }
  }
  const bundled = bundledModelNames().join(', ') || '(none)';
  const how = PLAIN_NAME.test(name) ? `"${name}", which is not a bundled model (${bundled}) nor in the hub cache`
    : `by the path ${JSON.stringify(name)}; a file never chooses which folder is loaded`;
  throw new FileModelError(`${file} names its model ${how}: pass --model <folder or bundled name> (${what})`);
}

/** Null when the loaded model is the one the file names; else one line saying what differs and what to pass. */
export function identityMismatch(kind: string, id: ModelIdentity, loaded: ModelIdentity, verb = 'made for'): string | null {
  const weights = id.modelSha256 === loaded.modelSha256;
  const tokenizer = id.tokenizerSha256 === loaded.tokenizerSha256;
  if (weights && tokenizer) return null;
  const sameName = id.model === loaded.model;
  if (!weights) {
    const which = sameName
      ? `model "${id.model}" with weights ${short(id.modelSha256)}, but the "${loaded.model}" given has weights `
        + `${short(loaded.modelSha256)} (same name, different weights fingerprint: retrained, edited or another copy)`
      : `model "${id.model}" (weights ${short(id.modelSha256)}), not${verb === 'made for' ? ' for' : ''} "${loaded.model}" `
        + `(weights ${short(loaded.modelSha256)})`;
    return `this ${kind} was ${verb} ${which}; pass --model <the folder of ${id.model} whose weights hash to ${short(id.modelSha256)}>`;
  }
  return `this ${kind} was made with the tokenizer ${short(id.tokenizerSha256)} of "${id.model}", but "${loaded.model}" `
    + `(same weights) has tokenizer ${short(loaded.tokenizerSha256)}: its tokenizer files differ; use the original tokenizer`;
}

/**
 * A valid .mem file checked against the model it will be opened with, from config.json alone (width, positions,
 * first tokens): what decompress checks before loading. `given` as for modelForFile; when the file's model cannot be
 * found by name (and none is given), `onUnknown` hears why and nothing more is checked.
 */
export function checkMemoryAgainstModel(mf: MemoryFile, given: string | undefined, file: string, onUnknown?: (why: string) => void): string | null {
  let model: string;
  try {
    model = modelForFile(mf, given, file);
  } catch (e) {
    if (!(e instanceof FileModelError) || !onUnknown) throw e;
    onUnknown(e.message);
    return null;
  }
  const info = describeModel(model);
  try {
    validateForModel(mf, { name: info.name, embedDim: info.hiddenSize, maxPositions: info.maxPositions, vocabSize: info.vocabSize }, file);
  } catch (e) {
    if (!(e instanceof MemoryFileError) || info.name === mf.model) throw e;
    // Another model than the file names: say that first, then what does not fit.
    throw new MemoryFileError(`${file} was made for model "${mf.model}" (weights ${short(mf.modelSha256)}), not for "${info.name}": `
      + `${e.message.slice(file.length + 2)}; pass --model <the folder of ${mf.model}>`);
  }
  return model;
}

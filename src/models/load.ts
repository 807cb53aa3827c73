/**
 * Model folder → frozen model + tokenizer. Accepts a bundled model name (models/<name>), a Hugging Face folder
 * (config.json + safetensors + tokenizer.json), or a llama2.c folder (checkpoint .bin + tok*.bin). Only headers are
 * read here; ONNX Runtime reads the weights from the files themselves when the engine starts its sessions.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CausalLM } from './causal-lm.ts';
import { ConfigError, type CommonConfig, type RawConfig } from './config.ts';
import { weightsSha256 } from './fingerprint.ts';
import { hubRepoName, isHubId, resolveHubModel } from './hf-cache.ts';
import { architectureFor } from './registry.ts';
import { modelWeightFiles, readModelWeightEntries } from './safetensors.ts';
import { Weights } from './weights.ts';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';

/** The project folder (CRAM_PROJECT_ROOT overrides it for bundled builds, e.g. the device benchmark). */
export const PROJECT_ROOT = process.env.CRAM_PROJECT_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BUNDLED_MODELS_DIR = join(PROJECT_ROOT, 'models');

export interface LoadedModel {
  /** Folder name, e.g. "gutenberg-llama-s". */
  name: string;
  dir: string;
  format: 'huggingface' | 'llama2c';
  model: CausalLM;
  tokenizer: TextTokenizer | null;
  /** SHA-256 of the weight bytes. */
  weightsSha256: string;
  config: CommonConfig;
}

export function bundledModelNames(): string[] {
  if (!existsSync(BUNDLED_MODELS_DIR)) return [];
  return readdirSync(BUNDLED_MODELS_DIR).filter((n) => statSync(join(BUNDLED_MODELS_DIR, n)).isDirectory()).sort();
}

/**
 * A model argument → an existing folder: a path, a bundled name (models/<name>), or a Hugging Face hub id `org/name`
 * found in the local hub cache (hf-cache.ts; nothing is downloaded). Otherwise an error that says what was searched.
 */
export function resolveModelDir(nameOrPath: string): string {
  if (existsSync(nameOrPath) && statSync(nameOrPath).isDirectory()) return resolve(nameOrPath);
  const bundled = join(BUNDLED_MODELS_DIR, nameOrPath);
  if (existsSync(bundled)) return bundled;
  if (isHubId(nameOrPath)) return resolveHubModel(nameOrPath);
  throw new Error(`model "${nameOrPath}" is neither a folder nor a bundled model; bundled: ${bundledModelNames().join(', ') || '(none)'}`);
}

/** The name a model folder goes by in results: the repo name for a hub cache snapshot, else the folder's name. */
export function modelName(dir: string): string {
  return hubRepoName(dir) ?? basename(dir);
}

/** The model for a raw config.json object and its weights (used by loading, tests and benchmarks). */
export function buildModel(raw: RawConfig, weights: Weights, where = 'config.json'): CausalLM {
  const arch = architectureFor(raw, where);
  return arch.create(arch.configure(raw, where), weights);
}

export function readConfigJson(path: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    const raw = JSON.parse(text);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
    return raw as RawConfig;
  } catch (e) {
    throw new ConfigError(`${path}: not a valid config.json (${(e as Error).message})`);
  }
}

function findLlama2c(dir: string): { checkpoint: string; tokenizer: string | null } | null {
  const files = readdirSync(dir);
  const ckpt = files.find((f) => f.endsWith('.bin') && !f.startsWith('tok'));
  if (!ckpt) return null;
  const tok = files.find((f) => /^tok.*\.bin$/.test(f));
  return { checkpoint: join(dir, ckpt), tokenizer: tok ? join(dir, tok) : null };
}

/**
 * Loads a model (and its tokenizer unless `tokenizer: false`). `fingerprint: false` skips hashing the weights
 * (weightsSha256 is then ''): for checks before a run, which need only the headers.
 */
export async function loadModel(nameOrPath: string, opts: { tokenizer?: boolean; fingerprint?: boolean } = {}): Promise<LoadedModel> {
  const dir = resolveModelDir(nameOrPath);
  const wantTokenizer = opts.tokenizer !== false;
  const name = modelName(dir);
  if (existsSync(join(dir, 'config.json'))) {
    const where = join(dir, 'config.json');
    const raw = readConfigJson(where);
    const arch = architectureFor(raw, where);
    const config = arch.configure(raw, where);
    const tokenizer = wantTokenizer ? HfTokenizer.fromDir(dir) : null; // fail on a missing tokenizer before the heavy part
    const weights = new Weights(readModelWeightEntries(dir));
    const model = arch.create(config, weights);
    return { name, dir, format: 'huggingface', model, tokenizer, weightsSha256: opts.fingerprint === false ? '' : weightsSha256(modelWeightFiles(dir)), config };
  }
  const l2c = findLlama2c(dir);
  if (l2c) {
    const { readLlama2cCheckpoint } = await import('./llama2c.ts');
    const { Llama2cTokenizer } = await import('../tokenizer/llama2c-tokenizer.ts');
    const { config: raw, entries } = readLlama2cCheckpoint(l2c.checkpoint);
    const arch = architectureFor(raw, l2c.checkpoint);
    const config = arch.configure(raw, l2c.checkpoint);
    let tokenizer: TextTokenizer | null = null;
    if (wantTokenizer) {
      if (!l2c.tokenizer) throw new Error(`${dir} has a llama2.c checkpoint but no tok*.bin tokenizer file`);
      tokenizer = Llama2cAdapter.wrap(Llama2cTokenizer.fromFile(l2c.tokenizer, config.vocabSize), l2c.tokenizer);
    }
    const model = arch.create(config, new Weights(entries));
    return { name, dir, format: 'llama2c', model, tokenizer, weightsSha256: opts.fingerprint === false ? '' : weightsSha256([l2c.checkpoint]), config };
  }
  throw new Error(`${dir} holds no model: expected config.json + model.safetensors (Hugging Face) or a llama2.c checkpoint .bin + tok*.bin`);
}

/** llama2.c's tokenizer behind the TextTokenizer interface: BOS added, as llama2.c's run does. */
class Llama2cAdapter {
  static wrap(tok: { encode(t: string, o?: { bos?: boolean; eos?: boolean }): number[]; decode(ids: number[]): string; bosId: number; eosId: number }, file: string): TextTokenizer {
    const fingerprint = createHash('sha256').update(readFileSync(file)).digest('hex');
    return {
      encode: (text) => tok.encode(text, { bos: true, eos: false }),
      decode: (ids) => tok.decode(ids),
      bosId: tok.bosId,
      eosId: tok.eosId,
      fingerprint,
    };
  }
}

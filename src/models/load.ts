/**
 * Model folder → frozen model + tokenizer. Accepts a bundled model name (models/<name>), a Hugging Face folder
 * (config.json + safetensors + tokenizer.json), or a llama2.c folder (checkpoint .bin + tok*.bin).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CausalLM } from './causal-lm.ts';
import { normalizeConfig, type ModelConfig } from './config.ts';
import { Llama } from './llama.ts';
import { GPT2 } from './gpt2.ts';
import { GPTNeoX } from './gpt-neox.ts';
import { OPT } from './opt.ts';
import { readModelWeights } from './safetensors.ts';
import type { TensorMap } from './tensor-map.ts';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
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
  config: ModelConfig;
}

export function bundledModelNames(): string[] {
  if (!existsSync(BUNDLED_MODELS_DIR)) return [];
  return readdirSync(BUNDLED_MODELS_DIR).filter((n) => statSync(join(BUNDLED_MODELS_DIR, n)).isDirectory()).sort();
}

/** A bundled name or a path → an existing folder, or an error that lists what exists. */
export function resolveModelDir(nameOrPath: string): string {
  if (existsSync(nameOrPath) && statSync(nameOrPath).isDirectory()) return resolve(nameOrPath);
  const bundled = join(BUNDLED_MODELS_DIR, nameOrPath);
  if (existsSync(bundled)) return bundled;
  throw new Error(`model "${nameOrPath}" is neither a folder nor a bundled model; bundled: ${bundledModelNames().join(', ') || '(none)'}`);
}

export function buildModel(config: ModelConfig, tensors: TensorMap): CausalLM {
  switch (config.modelType) {
    case 'llama': return new Llama(config, tensors);
    case 'gpt2': return new GPT2(config, tensors);
    case 'gpt_neox': return new GPTNeoX(config, tensors);
    case 'opt': return new OPT(config, tensors);
  }
}

function findLlama2c(dir: string): { checkpoint: string; tokenizer: string | null } | null {
  const files = readdirSync(dir);
  const ckpt = files.find((f) => f.endsWith('.bin') && !f.startsWith('tok'));
  if (!ckpt) return null;
  const tok = files.find((f) => /^tok.*\.bin$/.test(f));
  return { checkpoint: join(dir, ckpt), tokenizer: tok ? join(dir, tok) : null };
}

/** Loads a model (and its tokenizer unless `tokenizer: false`). The tfjs backend must be initialised first. */
export async function loadModel(nameOrPath: string, opts: { tokenizer?: boolean } = {}): Promise<LoadedModel> {
  const dir = resolveModelDir(nameOrPath);
  const wantTokenizer = opts.tokenizer !== false;
  const name = basename(dir);
  if (existsSync(join(dir, 'config.json'))) {
    const config = normalizeConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'));
    const tokenizer = wantTokenizer ? HfTokenizer.fromDir(dir) : null; // fail on a missing tokenizer before the heavy load
    const { tensors, sha256 } = readModelWeights(dir);
    return { name, dir, format: 'huggingface', model: buildModel(config, tensors), tokenizer, weightsSha256: sha256, config };
  }
  const l2c = findLlama2c(dir);
  if (l2c) {
    const { readLlama2cCheckpoint } = await import('./llama2c.ts');
    const { Llama2cTokenizer } = await import('../tokenizer/llama2c-tokenizer.ts');
    const { config: raw, tensors } = readLlama2cCheckpoint(l2c.checkpoint);
    const config = normalizeConfig(raw, l2c.checkpoint);
    let tokenizer: TextTokenizer | null = null;
    if (wantTokenizer) {
      if (!l2c.tokenizer) throw new Error(`${dir} has a llama2.c checkpoint but no tok*.bin tokenizer file`);
      tokenizer = Llama2cAdapter.wrap(Llama2cTokenizer.fromFile(l2c.tokenizer, config.vocabSize), l2c.tokenizer);
    }
    const sha256 = createHash('sha256').update(readFileSync(l2c.checkpoint)).digest('hex');
    return { name, dir, format: 'llama2c', model: buildModel(config, tensors), tokenizer, weightsSha256: sha256, config };
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

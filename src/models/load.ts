/**
 * Model folder → frozen model + tokenizer. Accepts a bundled model name (models/<name>), a Hugging Face folder
 * (config.json + safetensors + tokenizer.json), or a llama2.c folder (checkpoint .bin + tok*.bin).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { CausalLM } from './causal-lm.ts';
import { normalizeConfig, type ModelConfig } from './config.ts';
import { Llama } from './llama.ts';
import { GPT2 } from './gpt2.ts';
import { GPTNeoX } from './gpt-neox.ts';
import { OPT } from './opt.ts';
import { assertFiniteTensors, readModelWeights } from './safetensors.ts';
import type { TensorMap } from './tensor-map.ts';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
import { readJsonFile } from '../files.ts';
import { findLlama2c, resolveModelDir } from '../paths.ts';

// Paths live in src/paths.ts (no tensor code, so config validation can use them); re-exported for existing callers.
export { BUNDLED_MODELS_DIR, PROJECT_ROOT, bundledModelNames, resolveModelDir } from '../paths.ts';

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

export function buildModel(config: ModelConfig, tensors: TensorMap): CausalLM {
  switch (config.modelType) {
    case 'llama': return new Llama(config, tensors);
    case 'gpt2': return new GPT2(config, tensors);
    case 'gpt_neox': return new GPTNeoX(config, tensors);
    case 'opt': return new OPT(config, tensors);
  }
}

/** Loads a model (and its tokenizer unless `tokenizer: false`). The tfjs backend must be initialised first. */
export async function loadModel(nameOrPath: string, opts: { tokenizer?: boolean } = {}): Promise<LoadedModel> {
  const dir = resolveModelDir(nameOrPath);
  const wantTokenizer = opts.tokenizer !== false;
  const name = basename(dir);
  if (existsSync(join(dir, 'config.json'))) {
    const config = normalizeConfig(readJsonFile(join(dir, 'config.json'), 'model config') as Record<string, unknown>, join(dir, 'config.json'));
    const tokenizer = wantTokenizer ? HfTokenizer.fromDir(dir) : null; // fail on a missing tokenizer before the heavy load
    const { tensors, sha256 } = readModelWeights(dir);
    return { name, dir, format: 'huggingface', model: buildModel(config, tensors), tokenizer, weightsSha256: sha256, config };
  }
  const l2c = findLlama2c(dir);
  if (l2c) {
    const { readLlama2cCheckpoint } = await import('./llama2c.ts');
    const { llama2cTextTokenizer } = await import('../tokenizer/llama2c-tokenizer.ts');
    const { config: raw, tensors } = readLlama2cCheckpoint(l2c.checkpoint);
    assertFiniteTensors(tensors, l2c.checkpoint);
    const config = normalizeConfig(raw, l2c.checkpoint);
    let tokenizer: TextTokenizer | null = null;
    if (wantTokenizer) {
      if (!l2c.tokenizer) throw new Error(`${dir} has a llama2.c checkpoint but no tok*.bin tokenizer file`);
      tokenizer = llama2cTextTokenizer(l2c.tokenizer, config.vocabSize);
    }
    const sha256 = createHash('sha256').update(readFileSync(l2c.checkpoint)).digest('hex');
    return { name, dir, format: 'llama2c', model: buildModel(config, tensors), tokenizer, weightsSha256: sha256, config };
  }
  throw new Error(`${dir} holds no model: expected config.json + model.safetensors (Hugging Face) or a llama2.c checkpoint .bin + tok*.bin`);
}

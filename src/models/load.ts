/**
 * Model folder → frozen model + tokenizer. Accepts a bundled model name (models/<name>), a Hugging Face folder
 * (config.json + safetensors + tokenizer.json), or a llama2.c folder (checkpoint .bin + tok*.bin). Only headers are
 * read here; ONNX Runtime reads the weights from the files themselves when the engine starts its sessions.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CausalLM } from './causal-lm.ts';
import type { CommonConfig, RawConfig } from './config.ts';
import { assertFiniteWeights, weightsSha256 } from './fingerprint.ts';
import { architectureFor } from './registry.ts';
import { modelWeightFiles, readModelWeightEntries } from './safetensors.ts';
import { Weights } from './weights.ts';
import { crossCheckModel } from './validate.ts';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
import { readJsonObject } from '../files.ts';
import { findLlama2c, modelName, resolveModelDir } from '../paths/index.ts';

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

/** A config.json as an object; errors name the file and what is wrong with it. */
export function readConfigJson(path: string): RawConfig {
  return readJsonObject(path, 'model config') as RawConfig;
}

/**
 * Loads a model (and its tokenizer unless `tokenizer: false`). `fingerprint: false` skips hashing the weights
 * (weightsSha256 is then ''): for checks before a run, which need only the headers.
 */
export async function loadModel(
  nameOrPath: string,
  opts: { tokenizer?: boolean; fingerprint?: boolean } = {},
): Promise<LoadedModel> {
  const dir = resolveModelDir(nameOrPath);
  const wantTokenizer = opts.tokenizer !== false;
  const name = modelName(dir);
  if (existsSync(join(dir, 'config.json'))) {
    const where = join(dir, 'config.json');
    const raw = readConfigJson(where);
    const arch = architectureFor(raw, where);
    const config = arch.configure(raw, where);
    const tokenizer = wantTokenizer ? HfTokenizer.fromDir(dir) : null; // fail on a missing tokenizer before the heavy part
    const entries = readModelWeightEntries(dir);
    const files = modelWeightFiles(dir);
    if (opts.fingerprint !== false) assertFiniteWeights(entries, files);
    const model = arch.create(config, new Weights(entries));
    crossCheckModel(model, raw, where);
    return {
      name,
      dir,
      format: 'huggingface',
      model,
      tokenizer,
      weightsSha256: opts.fingerprint === false ? '' : weightsSha256(files),
      config,
    };
  }
  const l2c = findLlama2c(dir);
  if (l2c) {
    const { readLlama2cCheckpoint } = await import('./llama2c.ts');
    const { llama2cTextTokenizer } = await import('../tokenizer/llama2c-tokenizer.ts');
    const { config: raw, entries } = readLlama2cCheckpoint(l2c.checkpoint);
    const arch = architectureFor(raw, l2c.checkpoint);
    const config = arch.configure(raw, l2c.checkpoint);
    let tokenizer: TextTokenizer | null = null;
    if (wantTokenizer) {
      if (!l2c.tokenizer) throw new Error(`${dir} has a llama2.c checkpoint but no tok*.bin tokenizer file`);
      tokenizer = llama2cTextTokenizer(l2c.tokenizer, config.vocabSize);
    }
    if (opts.fingerprint !== false) assertFiniteWeights(entries, [l2c.checkpoint]);
    const model = arch.create(config, new Weights(entries));
    crossCheckModel(model, raw, l2c.checkpoint);
    return {
      name,
      dir,
      format: 'llama2c',
      model,
      tokenizer,
      weightsSha256: opts.fingerprint === false ? '' : weightsSha256([l2c.checkpoint]),
      config,
    };
  }
  throw new Error(
    `${dir} holds no model: expected config.json + model.safetensors (Hugging Face) or a llama2.c checkpoint .bin + tok*.bin`,
  );
}

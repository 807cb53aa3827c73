/**
 * What the harness needs to know about a model before loading it: its folder name, its positions and vocabulary
 * (from config.json or the llama2.c header, without reading the weights), and its tokenizer. No tensor code:
 * validation and planning run before the engine starts.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../files.ts';
import { architectureFor } from '../models/registry.ts';
import { parseLlama2cHeader } from '../models/llama2c.ts';
import { findLlama2c, modelName, resolveModelDir } from '../paths/index.ts';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.ts';
import { llama2cTextTokenizer } from '../tokenizer/llama2c-tokenizer.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';

export interface ModelInfo {
  /** Folder name, e.g. "gutenberg-llama-s" (what records and vector paths use). */
  name: string;
  dir: string;
  format: 'huggingface' | 'llama2c';
  /** Most positions (vectors + tokens) the model takes. */
  maxPositions: number;
  /** Where maxPositions comes from, for messages. */
  positionsFrom: string;
  vocabSize: number;
  tokenizerFile: string | null;
}

export function describeModel(nameOrPath: string): ModelInfo {
  const dir = resolveModelDir(nameOrPath);
  const name = modelName(dir);
  const configFile = join(dir, 'config.json');
  if (existsSync(configFile)) {
    const raw = readJsonObject(configFile, 'model config');
    const c = architectureFor(raw, configFile).configure(raw, configFile);
    return {
      name, dir, format: 'huggingface', maxPositions: c.maxPositions, positionsFrom: `${configFile} (max_position_embeddings)`,
      vocabSize: c.vocabSize, tokenizerFile: join(dir, 'tokenizer.json'),
    };
  }
  const l2c = findLlama2c(dir);
  if (l2c) {
    const head = Buffer.alloc(28);
    const fd = openSync(l2c.checkpoint, 'r');
    let n: number;
    try {
      n = readSync(fd, head, 0, 28, 0);
    } finally {
      closeSync(fd);
    }
    const h = parseLlama2cHeader(head.subarray(0, n), l2c.checkpoint);
    return {
      name, dir, format: 'llama2c', maxPositions: h.seqLen, positionsFrom: `${l2c.checkpoint} (seq_len)`,
      vocabSize: h.vocabSize, tokenizerFile: l2c.tokenizer,
    };
  }
  throw new Error(`${dir} holds no model: expected config.json + model.safetensors (Hugging Face) or a llama2.c checkpoint .bin + tok*.bin`);
}

/** The model's tokenizer, as loadModel makes it (same classes, same fingerprint). */
export function loadTokenizer(info: ModelInfo): TextTokenizer {
  if (info.format === 'huggingface') return HfTokenizer.fromDir(info.dir);
  if (!info.tokenizerFile) throw new Error(`${info.dir} has a llama2.c checkpoint but no tok*.bin tokenizer file`);
  return llama2cTextTokenizer(info.tokenizerFile, info.vocabSize);
}

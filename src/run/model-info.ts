/**
 * What the harness needs to know about a model before loading it: its folder name, its positions and vocabulary
 * (from config.json or the llama2.c header, without reading the weights), and its tokenizer. No tensor code:
 * validation and planning run before the engine starts.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../files.ts';
import { checkConfigLimits } from '../models/config-limits.ts';
import { configParameterCount } from '../models/param-count.ts';
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
  /** Width of the input embeddings (a [mem] vector's size): word_embed_proj_dim for OPT's projected models. */
  hiddenSize: number;
  tokenizerFile: string | null;
  /** Weights the config implies (tied embeddings once), without reading weight files; null for llama2.c folders. */
  parameters: number | null;
}

export function describeModel(nameOrPath: string): ModelInfo {
  const dir = resolveModelDir(nameOrPath);
  const name = modelName(dir);
  const configFile = join(dir, 'config.json');
  if (existsSync(configFile)) {
    const raw = readJsonObject(configFile, 'model config');
    const c = architectureFor(raw, configFile).configure(raw, configFile);
    const width = [raw.word_embed_proj_dim, raw.hidden_size, raw.n_embd, raw.d_model].find(
      (v) => typeof v === 'number',
    ) as number | undefined;
    return {
      name,
      dir,
      format: 'huggingface',
      maxPositions: c.maxPositions,
      positionsFrom: `${configFile} (max_position_embeddings)`,
      vocabSize: c.vocabSize,
      hiddenSize: width ?? 0,
      tokenizerFile: join(dir, 'tokenizer.json'),
      parameters: configParameterCount(raw, configFile),
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
    // The same bounds as a config.json's (the header's fields under their Hugging Face names).
    checkConfigLimits(
      {
        hidden_size: h.dim,
        intermediate_size: h.hiddenDim,
        num_hidden_layers: h.nLayers,
        num_attention_heads: h.nHeads,
        num_key_value_heads: h.nKvHeads,
        vocab_size: h.vocabSize,
        max_position_embeddings: h.seqLen,
        tie_word_embeddings: h.sharedClassifier,
      },
      `${l2c.checkpoint} (llama2.c header)`,
    );
    return {
      name,
      dir,
      format: 'llama2c',
      maxPositions: h.seqLen,
      positionsFrom: `${l2c.checkpoint} (seq_len)`,
      vocabSize: h.vocabSize,
      hiddenSize: h.dim,
      tokenizerFile: l2c.tokenizer,
      parameters: null,
    };
  }
  throw new Error(
    `${dir} holds no model: expected config.json + model.safetensors (Hugging Face) or a llama2.c checkpoint .bin + tok*.bin`,
  );
}

/** The model's tokenizer, as loadModel makes it (same classes, same fingerprint). */
export function loadTokenizer(info: ModelInfo): TextTokenizer {
  if (info.format === 'huggingface') return HfTokenizer.fromDir(info.dir);
  if (!info.tokenizerFile) throw new Error(`${info.dir} has a llama2.c checkpoint but no tok*.bin tokenizer file`);
  return llama2cTextTokenizer(info.tokenizerFile, info.vocabSize);
}

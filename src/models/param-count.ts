/**
 * How many weights a model has, from its config.json alone (tied embeddings counted once), for planning without the
 * weight files: `cram check` on a folder that holds only config.json and the tokenizer. Equal to transformers'
 * `sum(p.numel() for p in model.parameters())` (test/models/checkpoints.test.ts checks every architecture's hub-layout
 * fixture, and the paper models at full size).
 */
import type { CommonConfig, RawConfig } from './config.ts';
import type { GemmaConfig } from './gemma2.ts';
import type { GptNeoxConfig } from './gpt-neox.ts';
import type { Gpt2Config } from './gpt2.ts';
import type { LlamaConfig } from './llama.ts';
import type { MambaConfig } from './mamba.ts';
import type { Mamba2Config } from './mamba2.ts';
import type { OptConfig } from './opt.ts';
import type { Phi3Config } from './phi3.ts';
import { architectureFor } from './registry.ts';

/** Attention projections q, k, v, o (with their biases) for query/key-value head counts and width. */
function attention(
  d: number,
  heads: number,
  kvHeads: number,
  headDim: number,
  qkvBias: boolean,
  oBias: boolean,
): number {
  const q = heads * headDim;
  const kv = kvHeads * headDim;
  return d * (q + 2 * kv) + q * d + (qkvBias ? q + 2 * kv : 0) + (oBias ? d : 0);
}

/** The weights of the model a raw config.json describes. */
export function configParameterCount(raw: RawConfig, where = 'config.json'): number {
  const arch = architectureFor(raw, where);
  const common: CommonConfig = arch.configure(raw, where);
  const V = common.vocabSize;
  const L = common.numLayers;
  switch (common.modelType) {
    case 'llama':
    case 'mistral':
    case 'qwen2':
    case 'qwen3':
    case 'smollm3':
    case 'olmo':
    case 'olmo2': {
      const c = common as LlamaConfig;
      const d = c.hiddenSize;
      const I = c.intermediateSize;
      const olmo = c.modelType === 'olmo'; // non-parametric LayerNorm
      let layer = attention(d, c.numHeads, c.numKvHeads, c.headDim, c.attentionBias, c.outputBias) + 3 * d * I;
      if (c.mlpBias) layer += 2 * I + d;
      if (!olmo) layer += 2 * d;
      if (c.qkNorm) layer += 2 * c.headDim;
      // OLMo-2's q_norm, k_norm run over the whole projections
      if (c.modelType === 'olmo2') layer += c.numHeads * c.headDim + c.numKvHeads * c.headDim;
      return V * d * (c.tieWordEmbeddings ? 1 : 2) + L * layer + (olmo ? 0 : d);
    }
    case 'phi3': {
      const c = common as Phi3Config;
      const d = c.hiddenSize;
      const attn = attention(d, c.numHeads, c.numKvHeads, c.headDim, false, false);
      const layer = attn + 3 * d * c.intermediateSize + 2 * d;
      return V * d * (c.tieWordEmbeddings ? 1 : 2) + L * layer + d;
    }
    case 'gemma2':
    case 'gemma3_text': {
      const c = common as GemmaConfig;
      const d = c.hiddenSize;
      const attn = attention(d, c.numHeads, c.numKvHeads, c.headDim, c.attentionBias, c.attentionBias);
      let layer = attn + 3 * d * c.intermediateSize + 4 * d;
      if (c.qkNorm) layer += 2 * c.headDim;
      return V * d * (c.tieWordEmbeddings ? 1 : 2) + L * layer + d;
    }
    case 'gpt_neox': {
      const c = common as GptNeoxConfig;
      const d = c.hiddenSize;
      const I = c.intermediateSize;
      const bias = c.attentionBias ? 4 * d : 0;
      const layer = 4 * d + 4 * d * d + bias + 2 * d * I + I + d;
      return V * d * (c.tieWordEmbeddings ? 1 : 2) + L * layer + 2 * d;
    }
    case 'gpt2': {
      const c = common as Gpt2Config;
      const d = c.hiddenSize;
      const I = c.intermediateSize;
      const layer = 4 * d + 3 * d * d + 3 * d + d * d + d + 2 * d * I + I + d;
      return V * d + c.maxPositions * d + L * layer + 2 * d;
    }
    case 'opt': {
      const c = common as OptConfig;
      const d = c.hiddenSize;
      const I = c.intermediateSize;
      const p = c.wordEmbedProjDim;
      const b = c.bias ? 1 : 0;
      const layer = 4 * d * d + 4 * d * b + 2 * d + d * I + I * b + I * d + d * b + 2 * d;
      const finalNorm = c.doLayerNormBefore && raw._remove_final_layer_norm !== true ? 2 * d : 0;
      const proj = p !== d ? 2 * p * d : 0;
      return V * p * (c.tieWordEmbeddings ? 1 : 2) + (c.maxPositions + 2) * d + L * layer + finalNorm + proj;
    }
    case 'mamba': {
      const c = common as MambaConfig;
      const d = c.hiddenSize;
      const I = c.intermediateSize;
      const N = c.stateSize;
      const R = c.dtRank;
      const inProj = d * 2 * I + (c.useBias ? 2 * I : 0);
      const conv = I * c.convKernel + (c.useConvBias ? I : 0);
      const layer = d + inProj + conv + I * (R + 2 * N) + R * I + I + I * N + I + I * d + (c.useBias ? d : 0);
      return V * d * (c.tieWordEmbeddings ? 1 : 2) + L * layer + d;
    }
    case 'mamba2': {
      const c = common as Mamba2Config;
      const d = c.hiddenSize;
      const I = c.intermediateSize;
      const gn = c.nGroups * c.stateSize;
      const conv = I + 2 * gn;
      const inProj = 2 * I + 2 * gn + c.numHeads;
      const layer =
        d +
        d * inProj +
        (c.useBias ? inProj : 0) +
        conv * c.convKernel +
        (c.useConvBias ? conv : 0) +
        3 * c.numHeads +
        I +
        I * d +
        (c.useBias ? d : 0);
      return V * d * (c.tieWordEmbeddings ? 1 : 2) + L * layer + d;
    }
    default:
      throw new Error(`${where}: no parameter count for model_type "${common.modelType}"`);
  }
}

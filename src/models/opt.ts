/**
 * OPT (Hugging Face OPTForCausalLM): learned positions offset by 2, pre-LN (do_layer_norm_before) or post-LN,
 * ReLU MLP, queries scaled by head_dim^-0.5, and project_in/project_out when word_embed_proj_dim ≠ hidden_size
 * (the [mem] vectors then have word_embed_proj_dim entries, as in the paper's code).
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, lmHeadName, type Architecture } from './causal-lm.ts';
import { activationName, bool, commonConfig, num, type CommonConfig, type RawConfig } from './config.ts';
import { activation, attention, layerNorm, linear, mergeHeads, splitHeads, type ActivationName } from './layers.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

const POSITION_OFFSET = 2;

export interface OptConfig extends CommonConfig {
  hiddenSize: number;
  wordEmbedProjDim: number;
  numHeads: number;
  intermediateSize: number;
  activation: ActivationName;
  bias: boolean;
  doLayerNormBefore: boolean;
}

function configure(raw: RawConfig, where: string): OptConfig {
  const hiddenSize = num(raw, ['hidden_size'], where);
  return {
    ...commonConfig(raw, where, { tie: true }),
    hiddenSize,
    wordEmbedProjDim: num(raw, ['word_embed_proj_dim'], where, hiddenSize),
    numHeads: num(raw, ['num_attention_heads'], where),
    intermediateSize: num(raw, ['ffn_dim'], where, 4 * hiddenSize),
    activation: activationName(raw, where, 'relu'),
    bias: bool(raw, 'enable_bias', true),
    doLayerNormBefore: bool(raw, 'do_layer_norm_before', true),
  };
}

export class Opt extends FrozenLM<OptConfig> {
  constructor(config: OptConfig, weights: Weights) {
    super(config, weights, config.wordEmbedProjDim, 'model.decoder.embed_tokens.weight', lmHeadName(config, weights));
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = x.graph;
    const d = c.hiddenSize;
    const e = c.wordEmbedProjDim;
    const hd = d / c.numHeads;
    const pre = 'model.decoder';
    const ln = (h: Value, p: string) =>
      layerNorm(h, w.value(g, `${p}.weight`, [d]), w.value(g, `${p}.bias`, [d]), 1e-5);
    let h = op.reshape(x, [-1, e]);
    if (e !== d) h = linear(w, h, `${pre}.project_in`, [d, e]);
    // Right padding keeps real tokens at positions 0..n−1, as HF's cumsum(attention_mask) − 1 would give.
    const table = w.value(g, `${pre}.embed_positions.weight`, [c.maxPositions + POSITION_OFFSET, d]);
    const positions = op.gather(table, op.add(seq.positions(), g.scalar(POSITION_OFFSET, 'int64')));
    h = op.reshape(op.add(op.reshape(h, seq.shape([d])), positions), [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `${pre}.layers.${i}`;
      const a = c.doLayerNormBefore ? ln(h, `${p}.self_attn_layer_norm`) : h;
      const q = splitHeads(
        seq,
        op.scale(linear(w, a, `${p}.self_attn.q_proj`, [d, d], c.bias), 1 / Math.sqrt(hd)),
        c.numHeads,
        hd,
      );
      const k = splitHeads(seq, linear(w, a, `${p}.self_attn.k_proj`, [d, d], c.bias), c.numHeads, hd);
      const v = splitHeads(seq, linear(w, a, `${p}.self_attn.v_proj`, [d, d], c.bias), c.numHeads, hd);
      h = op.add(
        h,
        linear(
          w,
          mergeHeads(attention(seq, q, k, v, { scale: 1, cacheName: `layer${i}` })),
          `${p}.self_attn.out_proj`,
          [d, d],
          c.bias,
        ),
      );
      if (!c.doLayerNormBefore) h = ln(h, `${p}.self_attn_layer_norm`);
      const f = c.doLayerNormBefore ? ln(h, `${p}.final_layer_norm`) : h;
      h = op.add(
        h,
        linear(
          w,
          activation(c.activation, linear(w, f, `${p}.fc1`, [c.intermediateSize, d], c.bias)),
          `${p}.fc2`,
          [d, c.intermediateSize],
          c.bias,
        ),
      );
      if (!c.doLayerNormBefore) h = ln(h, `${p}.final_layer_norm`);
    }
    if (w.has(`${pre}.final_layer_norm.weight`)) h = ln(h, `${pre}.final_layer_norm`);
    if (e !== d) h = linear(w, h, `${pre}.project_out`, [e, d]);
    return op.reshape(h, seq.shape([e]));
  }
}

export const opt: Architecture<OptConfig> = {
  modelTypes: ['opt'],
  configure,
  create: (config, weights) => new Opt(config, weights),
};

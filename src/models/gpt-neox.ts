/**
 * GPT-NeoX / Pythia (Hugging Face GPTNeoXForCausalLM): LayerNorm, rotary on the first rotary_pct of each head,
 * parallel or sequential residual per config, fused per-head q/k/v, untied `embed_out`.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import {
  activationName,
  bool,
  commonConfig,
  num,
  ropeSettings,
  type CommonConfig,
  type RawConfig,
  type RopeSettings,
} from './config.ts';
import {
  activation,
  attention,
  layerNorm,
  linear,
  mergeHeads,
  rope,
  ropeTables,
  type ActivationName,
} from './layers.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface GptNeoxConfig extends CommonConfig {
  hiddenSize: number;
  numHeads: number;
  headDim: number;
  rotaryDim: number;
  intermediateSize: number;
  normEps: number;
  rope: RopeSettings;
  activation: ActivationName;
  attentionBias: boolean;
  parallelResidual: boolean;
}

function configure(raw: RawConfig, where: string): GptNeoxConfig {
  const hiddenSize = num(raw, ['hidden_size'], where);
  const numHeads = num(raw, ['num_attention_heads'], where);
  const headDim = hiddenSize / numHeads;
  const rope = ropeSettings(raw, where);
  return {
    ...commonConfig(raw, where, { tie: false }),
    hiddenSize,
    numHeads,
    headDim,
    rotaryDim: Math.floor(headDim * rope.partial),
    intermediateSize: num(raw, ['intermediate_size'], where, 4 * hiddenSize),
    normEps: num(raw, ['layer_norm_eps'], where, 1e-5),
    rope,
    activation: activationName(raw, where, 'gelu'),
    attentionBias: bool(raw, 'attention_bias', true),
    parallelResidual: bool(raw, 'use_parallel_residual', true),
  };
}

export class GptNeox extends FrozenLM<GptNeoxConfig> {
  constructor(config: GptNeoxConfig, weights: Weights) {
    super(
      config,
      weights,
      config.hiddenSize,
      'gpt_neox.embed_in.weight',
      config.tieWordEmbeddings ? null : 'embed_out.weight',
    );
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = x.graph;
    const d = c.hiddenSize;
    const hd = c.headDim;
    const ln = (h: Value, p: string) =>
      layerNorm(h, w.value(g, `${p}.weight`, [d]), w.value(g, `${p}.bias`, [d]), c.normEps);
    const tables = ropeTables(seq, c.rotaryDim, c.rope.theta, c.rope.scaling);
    const attn = (i: number, input: Value) => {
      const p = `gpt_neox.layers.${i}.attention`;
      // The fused projection is laid out per head: [q_h | k_h | v_h] for each head h.
      const qkv = op.transpose(
        op.reshape(
          linear(w, input, `${p}.query_key_value`, [3 * d, d], c.attentionBias),
          seq.shape([c.numHeads, 3 * hd]),
        ),
        [0, 2, 1, 3],
      );
      const [q, k, v] = op.split(qkv, -1, [hd, hd, hd]);
      const a = attention(seq, rope(q, tables, c.rotaryDim), rope(k, tables, c.rotaryDim), v, {
        cacheName: `layer${i}`,
      });
      return linear(w, mergeHeads(a), `${p}.dense`, [d, d], c.attentionBias);
    };
    const mlp = (i: number, input: Value) => {
      const p = `gpt_neox.layers.${i}.mlp`;
      return linear(
        w,
        activation(c.activation, linear(w, input, `${p}.dense_h_to_4h`, [c.intermediateSize, d], true)),
        `${p}.dense_4h_to_h`,
        [d, c.intermediateSize],
        true,
      );
    };
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `gpt_neox.layers.${i}`;
      if (c.parallelResidual) {
        h = op.add(op.add(h, attn(i, ln(h, `${p}.input_layernorm`))), mlp(i, ln(h, `${p}.post_attention_layernorm`)));
      } else {
        h = op.add(h, attn(i, ln(h, `${p}.input_layernorm`)));
        h = op.add(h, mlp(i, ln(h, `${p}.post_attention_layernorm`)));
      }
    }
    return op.reshape(ln(h, 'gpt_neox.final_layer_norm'), seq.shape([d]));
  }
}

export const gptNeox: Architecture<GptNeoxConfig> = {
  modelTypes: ['gpt_neox'],
  configure,
  create: (config, weights) => new GptNeox(config, weights),
};

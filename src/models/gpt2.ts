/** GPT-2 (Hugging Face GPT2LMHeadModel): learned positions, pre-LN, Conv1D weights stored [in, out], tied head. */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { activationName, commonConfig, num, type CommonConfig, type RawConfig } from './config.ts';
import { activation, attention, conv1d, layerNorm, mergeHeads, splitHeads, type ActivationName } from './layers.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface Gpt2Config extends CommonConfig {
  hiddenSize: number;
  numHeads: number;
  intermediateSize: number;
  normEps: number;
  activation: ActivationName;
}

function configure(raw: RawConfig, where: string): Gpt2Config {
  const hiddenSize = num(raw, ['n_embd', 'hidden_size'], where);
  return {
    ...commonConfig(raw, where, { tie: true, maxPositions: 1024 }),
    hiddenSize,
    numHeads: num(raw, ['n_head', 'num_attention_heads'], where),
    intermediateSize: typeof raw.n_inner === 'number' ? raw.n_inner : 4 * hiddenSize,
    normEps: num(raw, ['layer_norm_epsilon'], where, 1e-5),
    activation: activationName(raw, where, 'gelu_new'),
  };
}

export class Gpt2 extends FrozenLM<Gpt2Config> {
  constructor(config: Gpt2Config, weights: Weights) {
    super(config, weights, config.hiddenSize, 'transformer.wte.weight', null);
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = x.graph;
    const d = c.hiddenSize;
    const hd = d / c.numHeads;
    const ln = (h: Value, p: string) =>
      layerNorm(h, w.value(g, `${p}.weight`, [d]), w.value(g, `${p}.bias`, [d]), c.normEps);
    const positions = op.gather(w.value(g, 'transformer.wpe.weight', [c.maxPositions, d]), seq.positions());
    let h = op.reshape(op.add(x, positions), [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `transformer.h.${i}`;
      const [q, k, v] = op
        .split(conv1d(w, ln(h, `${p}.ln_1`), `${p}.attn.c_attn`, [d, 3 * d]), -1, [d, d, d])
        .map((t) => splitHeads(seq, t, c.numHeads, hd));
      h = op.add(
        h,
        conv1d(w, mergeHeads(attention(seq, q, k, v, { cacheName: `layer${i}` })), `${p}.attn.c_proj`, [d, d]),
      );
      h = op.add(
        h,
        conv1d(
          w,
          activation(c.activation, conv1d(w, ln(h, `${p}.ln_2`), `${p}.mlp.c_fc`, [d, c.intermediateSize])),
          `${p}.mlp.c_proj`,
          [c.intermediateSize, d],
        ),
      );
    }
    return op.reshape(ln(h, 'transformer.ln_f'), seq.shape([d]));
  }
}

export const gpt2: Architecture<Gpt2Config> = {
  modelTypes: ['gpt2'],
  configure,
  create: (config, weights) => new Gpt2(config, weights),
};

/**
 * Phi-3 (Hugging Face Phi3ForCausalLM): Llama's block with the projections fused — `qkv_proj` holds the rows of q, k
 * and v one after the other, `gate_up_proj` the rows of gate then up — RMSNorm, SwiGLU, grouped-query attention,
 * rotary on the first partial_rotary_factor of each head, untied head; a `sliding_window` (when set) applies to every
 * layer, as Hugging Face's Phi-3 mask does.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, lmHeadName, type Architecture } from './causal-lm.ts';
import { activationName, commonConfig, ModelConfigError, num, ropeSettings, type CommonConfig, type RawConfig, type RopeSettings } from './config.ts';
import { activation, attention, linear, mergeHeads, rmsNorm, rope, ropeTables, splitHeads, type ActivationName } from './layers.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

export interface Phi3Config extends CommonConfig {
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Leading features of each head that rotate (head_dim · partial_rotary_factor). */
  rotaryDim: number;
  intermediateSize: number;
  normEps: number;
  rope: RopeSettings;
  activation: ActivationName;
  /** Query i sees keys j with i − W < j ≤ i on every layer; null: full causal attention. */
  slidingWindow: number | null;
}

function configure(raw: RawConfig, where: string): Phi3Config {
  const hiddenSize = num(raw, ['hidden_size'], where);
  const numHeads = num(raw, ['num_attention_heads'], where);
  const headDim = num(raw, ['head_dim'], where, hiddenSize / numHeads);
  const rope = ropeSettings(raw, where);
  const rotaryDim = Math.floor(headDim * rope.partial);
  if (rotaryDim % 2 !== 0 || rotaryDim <= 0) throw new ModelConfigError(`${where}: partial_rotary_factor ${rope.partial} gives an odd or empty rotary width ${rotaryDim}`);
  const window = raw.sliding_window;
  if (window !== undefined && window !== null && !(Number.isInteger(window) && window > 0)) {
    throw new ModelConfigError(`${where}: sliding_window must be a positive integer or null, got ${JSON.stringify(window)}`);
  }
  return {
    ...commonConfig(raw, where, { tie: false, maxPositions: 4096 }),
    hiddenSize,
    numHeads,
    numKvHeads: num(raw, ['num_key_value_heads'], where, numHeads),
    headDim,
    rotaryDim,
    intermediateSize: num(raw, ['intermediate_size'], where),
    normEps: num(raw, ['rms_norm_eps'], where, 1e-5),
    rope,
    activation: activationName(raw, where),
    slidingWindow: typeof window === 'number' ? window : null,
  };
}

export class Phi3 extends FrozenLM<Phi3Config> {
  constructor(config: Phi3Config, weights: Weights) {
    super(config, weights, config.hiddenSize, 'model.embed_tokens.weight', lmHeadName(config, weights));
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const d = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const ff = c.intermediateSize;
    const tables = ropeTables(seq, c.rotaryDim, c.rope.theta, c.rope.scaling);
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const n = rmsNorm(h, w.value(x.graph, `${p}.input_layernorm.weight`, [d]), c.normEps);
      // One product for q, k and v (rows q | k | v), then the columns split, as Hugging Face slices them.
      const [qf, kf, vf] = op.split(linear(w, n, `${p}.self_attn.qkv_proj`, [qDim + 2 * kvDim, d]), 1, [qDim, kvDim, kvDim]);
      const q = rope(splitHeads(seq, qf, c.numHeads, c.headDim), tables, c.rotaryDim);
      const k = rope(splitHeads(seq, kf, c.numKvHeads, c.headDim), tables, c.rotaryDim);
      const v = splitHeads(seq, vf, c.numKvHeads, c.headDim);
      const a = attention(seq, q, k, v, { cacheName: `layer${i}`, window: c.slidingWindow });
      h = op.add(h, linear(w, mergeHeads(a), `${p}.self_attn.o_proj`, [d, qDim]));
      const n2 = rmsNorm(h, w.value(x.graph, `${p}.post_attention_layernorm.weight`, [d]), c.normEps);
      // gate_up_proj rows: gate | up; Hugging Face multiplies up · act(gate).
      const [gate, up] = op.split(linear(w, n2, `${p}.mlp.gate_up_proj`, [2 * ff, d]), 1, [ff, ff]);
      h = op.add(h, linear(w, op.mul(up, activation(c.activation, gate)), `${p}.mlp.down_proj`, [d, ff]));
    }
    h = rmsNorm(h, w.value(x.graph, 'model.norm.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }
}

export const phi3: Architecture<Phi3Config> = {
  modelTypes: ['phi3'],
  configure,
  create: (config, weights) => new Phi3(config, weights),
};

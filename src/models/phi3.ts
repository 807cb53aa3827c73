/**
 * Phi-3 (Hugging Face Phi3ForCausalLM): Llama's block with the projections fused — `qkv_proj` holds the rows of q, k
 * and v one after the other, `gate_up_proj` the rows of gate then up — RMSNorm, SwiGLU, grouped-query attention,
 * rotary on the first partial_rotary_factor of each head, untied head; a `sliding_window` (when set) applies to every
 * layer, as Hugging Face's Phi-3 mask does. The layers are Llama's (llama.ts).
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import type { Architecture } from './causal-lm.ts';
import { commonConfig, ModelConfigError, num, type RawConfig } from './config.ts';
import { activation, linear } from './layers.ts';
import { configureLlama, Llama, type LlamaConfig } from './llama.ts';

export interface Phi3Config extends LlamaConfig {
  /** Leading features of each head that rotate (head_dim · partial_rotary_factor). */
  rotaryDim: number;
  /** Query i sees keys j with i − W < j ≤ i on every layer; null: full causal attention. */
  slidingWindow: number | null;
}

function configure(raw: RawConfig, where: string): Phi3Config {
  const base = configureLlama(raw, where);
  const rotaryDim = Math.floor(base.headDim * base.rope.partial);
  if (rotaryDim % 2 !== 0 || rotaryDim <= 0) {
    const partial = `partial_rotary_factor ${base.rope.partial}`;
    throw new ModelConfigError(`${where}: ${partial} gives an odd or empty rotary width ${rotaryDim}`);
  }
  const window = raw.sliding_window;
  if (window !== undefined && window !== null && !(Number.isInteger(window) && window > 0)) {
    throw new ModelConfigError(
      `${where}: sliding_window must be a positive integer or null, got ${JSON.stringify(window)}`,
    );
  }
  const slidingWindow = typeof window === 'number' ? window : null;
  return {
    ...base,
    ...commonConfig(raw, where, { tie: false, maxPositions: 4096 }),
    normEps: num(raw, ['rms_norm_eps'], where, 1e-5),
    // Phi-3 has no biases and rotates halves, whatever the config says of Llama's switches.
    attentionBias: false,
    outputBias: false,
    mlpBias: false,
    ropeInterleaved: false,
    windows: Array.from({ length: base.numLayers }, () => slidingWindow),
    rotaryDim,
    slidingWindow,
  };
}

/** Llama's layers (llama.ts) with the fused projections and partial rotary. */
export class Phi3 extends Llama<Phi3Config> {
  protected override rotaryDim(): number {
    return this.config.rotaryDim;
  }

  /** One product for q, k and v (rows q | k | v), then the columns split, as Hugging Face slices them. */
  protected override projections(i: number, n: Value): [Value, Value, Value] {
    const c = this.config;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const fused = linear(this.weights, n, `model.layers.${i}.self_attn.qkv_proj`, [qDim + 2 * kvDim, c.hiddenSize]);
    const [q, k, v] = op.split(fused, 1, [qDim, kvDim, kvDim]);
    return [q, k, v];
  }

  /** gate_up_proj rows: gate | up; Hugging Face multiplies up · act(gate). */
  protected override mlp(i: number, n: Value): Value {
    const c = this.config;
    const ff = c.intermediateSize;
    const p = `model.layers.${i}.mlp`;
    const [gate, up] = op.split(linear(this.weights, n, `${p}.gate_up_proj`, [2 * ff, c.hiddenSize]), 1, [ff, ff]);
    return linear(this.weights, op.mul(up, activation(c.activation, gate)), `${p}.down_proj`, [c.hiddenSize, ff]);
  }
}

export const phi3: Architecture<Phi3Config> = {
  modelTypes: ['phi3'],
  configure,
  create: (config, weights) => new Phi3(config, weights),
};

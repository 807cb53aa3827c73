/**
 * Mamba (Hugging Face MambaForCausalLM; the paper's v2 models): per block, RMSNorm → mixer → residual; the mixer is
 * in_proj → (x, z), a depthwise causal convolution over the sequence with bias, SiLU, x_proj → (Δ low-rank, B, C),
 * dt_proj (with bias) + softplus, the selective scan with A = −exp(A_log) (src/models/ssm.ts, chunked), + D·x, gated
 * by SiLU(z), out_proj. Final RMSNorm (norm_f), tied or untied head. No positions: the length is unlimited.
 *
 * Incremental decoding carries per layer the last conv_kernel − 1 inputs of the convolution and the SSM state (both
 * fixed-size, Sequence.carry with axis null), so each generated token costs one position.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { FrozenLM, type Architecture } from './causal-lm.ts';
import { activationName, bool, commonConfig, ConfigError, num, type CommonConfig, type RawConfig } from './config.ts';
import { activation, linear, rmsNorm, type ActivationName } from './layers.ts';
import type { Sequence } from './sequence.ts';
import { DEFAULT_SCAN_CHUNK, DEFAULT_SCAN_GROUP, selectiveScan, zerosRows } from './ssm.ts';
import type { Weights } from './weights.ts';

export interface MambaConfig extends CommonConfig {
  hiddenSize: number;
  /** expand × hidden_size: the width of the scanned sequence. */
  intermediateSize: number;
  stateSize: number;
  convKernel: number;
  /** Rank of the low-rank Δ projection (time_step_rank; "auto" = ⌈hidden_size / 16⌉). */
  dtRank: number;
  normEps: number;
  /** Biases on in_proj and out_proj. */
  useBias: boolean;
  useConvBias: boolean;
  activation: ActivationName;
}

export function configureMamba(raw: RawConfig, where: string): MambaConfig {
  const hiddenSize = num(raw, ['hidden_size', 'd_model'], where);
  const rank = raw.time_step_rank;
  const dtRank = rank === undefined || rank === 'auto' ? Math.ceil(hiddenSize / 16) : num(raw, ['time_step_rank'], where);
  if (!Number.isInteger(dtRank) || dtRank < 1) throw new ConfigError(`${where}: time_step_rank ${JSON.stringify(rank)} is not a positive integer or "auto"`);
  return {
    ...commonConfig(raw, where, { tie: true, maxPositions: Infinity }),
    hiddenSize,
    intermediateSize: num(raw, ['intermediate_size'], where, num(raw, ['expand'], where, 2) * hiddenSize),
    stateSize: num(raw, ['state_size', 'd_state'], where, 16),
    convKernel: num(raw, ['conv_kernel', 'd_conv'], where, 4),
    dtRank,
    normEps: num(raw, ['layer_norm_epsilon', 'rms_norm_eps'], where, 1e-5),
    useBias: bool(raw, 'use_bias', false),
    useConvBias: bool(raw, 'use_conv_bias', true),
    activation: activationName(raw, where),
  };
}

export class Mamba extends FrozenLM<MambaConfig> {
  /** Chunk length and chunks per group of the selective scan (speed settings: the numbers agree up to rounding). */
  scanChunk = DEFAULT_SCAN_CHUNK;
  scanGroup = DEFAULT_SCAN_GROUP;

  constructor(config: MambaConfig, weights: Weights) {
    const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
    super(config, weights, config.hiddenSize, 'backbone.embeddings.weight', tied ? null : 'lm_head.weight');
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const d = c.hiddenSize;
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `backbone.layers.${i}`;
      const n = rmsNorm(h, this.weights.value(x.graph, `${p}.norm.weight`, [d]), c.normEps);
      h = op.add(h, this.mixer(i, n, seq));
    }
    h = rmsNorm(h, this.weights.value(x.graph, 'backbone.norm_f.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }

  /** The mixer's activation; SiLU with the accurate logistic (ONNX Runtime's Sigmoid is coarse for x ≪ 0). */
  private act(x: Value): Value {
    return this.config.activation === 'silu' ? op.siluExact(x) : activation(this.config.activation, x);
  }

  /** MambaMixer on flat [B·T, d] → [B·T, d]. */
  private mixer(i: number, n: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = n.graph;
    const p = `backbone.layers.${i}.mixer`;
    const E = c.intermediateSize;
    const N = c.stateSize;
    const K = c.convKernel;
    const R = c.dtRank;
    const batchDim = seq.x.shape[0];
    const [xin, z] = op.split(linear(w, n, `${p}.in_proj`, [2 * E, c.hiddenSize], c.useBias), -1, [E, E]);

    // Depthwise causal convolution: out_t = Σ_k w_k · x_{t+k−(K−1)} + bias, where x before the first position is the
    // carried inputs of the previous call (zeros on the first).
    const x3 = op.reshape(xin, seq.shape([E]));
    let xpad: Value | null = null;
    const withPast = (past: Value | null) => op.concat([past ?? zerosRows(seq.batch, g.ints([K - 1]), [E], [batchDim, K - 1, E]), x3], 1);
    if (seq.incremental) {
      seq.carry(`layer${i}.conv`, [batchDim, K - 1, E], null, (past) => {
        xpad = withPast(past);
        return op.slice(xpad, [-(K - 1)], [2 ** 62], [1], K - 1);
      });
    } else {
      xpad = withPast(null);
    }
    const conv = op.transpose(op.depthwiseConv1d(op.transpose(xpad!, [0, 2, 1]), w.value(g, `${p}.conv1d.weight`, [E, 1, K]),
      c.useConvBias ? w.value(g, `${p}.conv1d.bias`, [E]) : null, seq.x.shape[1]), [0, 2, 1]); // [B, T, E]
    const xc = this.act(conv); // [B, T, E]
    const xcFlat = op.reshape(xc, [-1, E]);

    const [dtLow, Bf, Cf] = op.split(linear(w, xcFlat, `${p}.x_proj`, [R + 2 * N, E]), -1, [R, N, N]);
    const dt = op.softplusExact(linear(w, dtLow, `${p}.dt_proj`, [E, R], true));
    const A = op.neg(op.exp(w.value(g, `${p}.A_log`, [E, N])));
    const scan = (h0: Value | null) => selectiveScan({
      dt: op.reshape(dt, seq.shape([E])), A, B: op.reshape(Bf, seq.shape([N])), C: op.reshape(Cf, seq.shape([N])), x: xc, h0,
    }, { chunk: this.scanChunk, group: this.scanGroup });
    let y: Value;
    if (seq.incremental) {
      let out: ReturnType<typeof scan> | null = null;
      seq.carry(`layer${i}.ssm`, [batchDim, E, N], null, (past) => {
        out = scan(past);
        return out.last;
      });
      y = out!.y;
    } else {
      y = scan(null).y;
    }
    let yFlat = op.add(op.reshape(y, [-1, E]), op.mul(xcFlat, w.value(g, `${p}.D`, [E])));
    yFlat = op.mul(yFlat, this.act(z));
    return linear(w, yFlat, `${p}.out_proj`, [c.hiddenSize, E], c.useBias);
  }
}

export const mamba: Architecture<MambaConfig> = {
  modelTypes: ['mamba'],
  configure: configureMamba,
  create: (config, weights) => new Mamba(config, weights),
};

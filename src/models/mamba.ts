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
import { FrozenLM, lmHeadName, type Architecture } from './causal-lm.ts';
import {
  activationName,
  bool,
  commonConfig,
  ModelConfigError,
  num,
  type CommonConfig,
  type RawConfig,
} from './config.ts';
import { activation, linear, rmsNorm, type ActivationName } from './layers.ts';
import type { Sequence } from './sequence.ts';
import { DEFAULT_SCAN_CHUNK, DEFAULT_SCAN_GROUP, selectiveScan, zerosRows } from './ssm.ts';
import type { Weights } from './weights.ts';

export interface MambaConfig extends SsmBackboneConfig {
  /** expand × hidden_size: the width of the scanned sequence. */
  intermediateSize: number;
  stateSize: number;
  convKernel: number;
  /** Rank of the low-rank Δ projection (time_step_rank; "auto" = ⌈hidden_size / 16⌉). */
  dtRank: number;
  /** Biases on in_proj and out_proj. */
  useBias: boolean;
  useConvBias: boolean;
}

export function configureMamba(raw: RawConfig, where: string): MambaConfig {
  const hiddenSize = num(raw, ['hidden_size', 'd_model'], where);
  const rank = raw.time_step_rank;
  const dtRank =
    rank === undefined || rank === 'auto' ? Math.ceil(hiddenSize / 16) : num(raw, ['time_step_rank'], where);
  if (!Number.isInteger(dtRank) || dtRank < 1)
    throw new ModelConfigError(`${where}: time_step_rank ${JSON.stringify(rank)} is not a positive integer or "auto"`);
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

/** What the backbone of Mamba and Mamba-2 reads from its config. */
export interface SsmBackboneConfig extends CommonConfig {
  hiddenSize: number;
  normEps: number;
  activation: ActivationName;
}

/**
 * The backbone Mamba and Mamba-2 share: per block RMSNorm → mixer → residual, final RMSNorm (norm_f), tied or untied
 * head; and the two parts of a mixer that carry state between incremental decoding calls (the convolution's last
 * inputs and the scan's state, both fixed-size: Sequence.carry with axis null). A subclass writes only its mixer.
 */
export abstract class SsmBackbone<C extends SsmBackboneConfig> extends FrozenLM<C> {
  constructor(config: C, weights: Weights) {
    super(config, weights, config.hiddenSize, 'backbone.embeddings.weight', lmHeadName(config, weights));
  }

  hiddenStates(x: Value, seq: Sequence): Value {
    const c = this.config;
    const d = c.hiddenSize;
    let h = op.reshape(x, [-1, d]);
    for (let i = 0; i < c.numLayers; i++) {
      const n = rmsNorm(h, this.weights.value(x.graph, `backbone.layers.${i}.norm.weight`, [d]), c.normEps);
      h = op.add(h, this.mixer(i, n, seq));
    }
    h = rmsNorm(h, this.weights.value(x.graph, 'backbone.norm_f.weight', [d]), c.normEps);
    return op.reshape(h, seq.shape([d]));
  }

  /** Block i's mixer on flat [B·T, d] → [B·T, d]. */
  protected abstract mixer(i: number, n: Value, seq: Sequence): Value;

  /** The mixer's activation; SiLU with the accurate logistic (ONNX Runtime's Sigmoid is coarse for x ≪ 0). */
  protected act(x: Value): Value {
    return this.config.activation === 'silu' ? op.siluExact(x) : activation(this.config.activation, x);
  }

  /**
   * Block i's depthwise causal convolution of x [B, T, width] with `${prefix}.conv1d` (kernel K, bias when `bias`):
   * out_t = Σ_k w_k · x_{t+k−(K−1)} + bias, where x before the first position is the carried inputs of the previous
   * call (zeros on the first). Returns [B, T, width].
   */
  protected causalConv(
    i: number,
    x: Value,
    width: number,
    K: number,
    prefix: string,
    bias: boolean,
    seq: Sequence,
  ): Value {
    const g = x.graph;
    const w = this.weights;
    const batchDim = seq.x.shape[0];
    let xpad: Value | null = null;
    const withPast = (past: Value | null) =>
      op.concat([past ?? zerosRows(seq.batch, g.ints([K - 1]), [width], [batchDim, K - 1, width]), x], 1);
    if (seq.incremental) {
      seq.carry(`layer${i}.conv`, [batchDim, K - 1, width], null, (past) => {
        xpad = withPast(past);
        return op.slice(xpad, [-(K - 1)], [2 ** 62], [1], K - 1);
      });
    } else {
      xpad = withPast(null);
    }
    return op.transpose(
      op.depthwiseConv1d(
        op.transpose(xpad!, [0, 2, 1]),
        w.value(g, `${prefix}.conv1d.weight`, [width, 1, K]),
        bias ? w.value(g, `${prefix}.conv1d.bias`, [width]) : null,
        seq.x.shape[1],
      ),
      [0, 2, 1],
    );
  }

  /** Block i's scan output: from the carried state (of shape `dims`) in incremental decoding, from zeros otherwise. */
  protected carriedScan(
    i: number,
    dims: (number | string)[],
    seq: Sequence,
    scan: (h0: Value | null) => { y: Value; last: Value },
  ): Value {
    if (!seq.incremental) return scan(null).y;
    let out: { y: Value; last: Value } | null = null;
    seq.carry(`layer${i}.ssm`, dims, null, (past) => {
      out = scan(past);
      return out.last;
    });
    return out!.y;
  }
}

export class Mamba extends SsmBackbone<MambaConfig> {
  /** Chunk length and chunks per group of the selective scan (speed settings: the numbers agree up to rounding). */
  scanChunk = DEFAULT_SCAN_CHUNK;
  scanGroup = DEFAULT_SCAN_GROUP;

  /** MambaMixer on flat [B·T, d] → [B·T, d]. */
  protected mixer(i: number, n: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = n.graph;
    const p = `backbone.layers.${i}.mixer`;
    const E = c.intermediateSize;
    const N = c.stateSize;
    const R = c.dtRank;
    const [xin, z] = op.split(linear(w, n, `${p}.in_proj`, [2 * E, c.hiddenSize], c.useBias), -1, [E, E]);
    const xc = this.act(this.causalConv(i, op.reshape(xin, seq.shape([E])), E, c.convKernel, p, c.useConvBias, seq)); // [B, T, E]
    const xcFlat = op.reshape(xc, [-1, E]);

    const [dtLow, Bf, Cf] = op.split(linear(w, xcFlat, `${p}.x_proj`, [R + 2 * N, E]), -1, [R, N, N]);
    const dt = op.softplusExact(linear(w, dtLow, `${p}.dt_proj`, [E, R], true));
    const A = op.neg(op.exp(w.value(g, `${p}.A_log`, [E, N])));
    const y = this.carriedScan(i, [seq.x.shape[0], E, N], seq, (h0) =>
      selectiveScan(
        {
          dt: op.reshape(dt, seq.shape([E])),
          A,
          B: op.reshape(Bf, seq.shape([N])),
          C: op.reshape(Cf, seq.shape([N])),
          x: xc,
          h0,
        },
        { chunk: this.scanChunk, group: this.scanGroup },
      ),
    );
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

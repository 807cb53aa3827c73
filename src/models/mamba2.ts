/**
 * Mamba-2 (Hugging Face Mamba2ForCausalLM): per block, RMSNorm → mixer → residual; the mixer is in_proj → (z, xBC, Δ),
 * a depthwise causal convolution over xBC with bias, SiLU, xBC → (x, B, C) with B and C shared by the heads of each of
 * n_groups groups, Δ = softplus(Δ + dt_bias) (clamped to time_step_limit when that is not [0, ∞)), the SSD scan with one
 * scalar A = −exp(A_log) per head (src/models/ssm.ts), + D·x per head, the gated RMSNorm norm(y · SiLU(z)) over the
 * whole width (as Hugging Face computes it), out_proj. Final RMSNorm, tied or untied head, no positions.
 *
 * Incremental decoding carries per layer the last conv_kernel − 1 inputs of the convolution and the SSM state.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import type { Architecture } from './causal-lm.ts';
import { activationName, bool, commonConfig, ModelConfigError, num, type RawConfig } from './config.ts';
import { linear, rmsNorm } from './layers.ts';
import { SsmBackbone, type SsmBackboneConfig } from './mamba.ts';
import type { Sequence } from './sequence.ts';
import { ssdScan } from './ssm.ts';

export interface Mamba2Config extends SsmBackboneConfig {
  /** expand × hidden_size = numHeads × headDim. */
  intermediateSize: number;
  numHeads: number;
  headDim: number;
  stateSize: number;
  nGroups: number;
  convKernel: number;
  /** Δ is clamped to [lo, hi] (Hugging Face's default [0, ∞) changes nothing after softplus). */
  timeStepLimit: [number, number];
  useBias: boolean;
  useConvBias: boolean;
}

/** A number as config.json may write it: a plain number, or Python's non-finite floats ("Infinity", {"__float__": "Infinity"}). */
function jsonFloat(v: unknown, where: string): number {
  const s = typeof v === 'object' && v !== null && '__float__' in v ? (v as { __float__: unknown }).__float__ : v;
  if (typeof s === 'number') return s;
  if (s === 'Infinity' || s === 'inf') return Infinity;
  if (s === '-Infinity' || s === '-inf') return -Infinity;
  throw new ModelConfigError(`${where}: ${JSON.stringify(v)} is not a number`);
}

export function configureMamba2(raw: RawConfig, where: string): Mamba2Config {
  const hiddenSize = num(raw, ['hidden_size', 'd_model'], where);
  const intermediateSize = Math.trunc(num(raw, ['expand'], where, 2) * hiddenSize);
  const headDim = num(raw, ['head_dim'], where, 64);
  const numHeads = num(raw, ['num_heads'], where, intermediateSize / headDim);
  const nGroups = num(raw, ['n_groups'], where, 1);
  if (numHeads * headDim !== intermediateSize)
    throw new ModelConfigError(
      `${where}: num_heads ${numHeads} × head_dim ${headDim} ≠ expand × hidden_size ${intermediateSize}`,
    );
  if (numHeads % nGroups !== 0)
    throw new ModelConfigError(`${where}: num_heads ${numHeads} is not a multiple of n_groups ${nGroups}`);
  const limit = Array.isArray(raw.time_step_limit) ? raw.time_step_limit : [0, Infinity];
  return {
    ...commonConfig(raw, where, { tie: false, maxPositions: Infinity }),
    hiddenSize,
    intermediateSize,
    numHeads,
    headDim,
    stateSize: num(raw, ['state_size', 'd_state'], where, 128),
    nGroups,
    convKernel: num(raw, ['conv_kernel', 'd_conv'], where, 4),
    timeStepLimit: [jsonFloat(limit[0], `${where} time_step_limit`), jsonFloat(limit[1], `${where} time_step_limit`)],
    normEps: num(raw, ['layer_norm_epsilon', 'rms_norm_eps'], where, 1e-5),
    useBias: bool(raw, 'use_bias', false),
    useConvBias: bool(raw, 'use_conv_bias', true),
    activation: activationName(raw, where),
  };
}

export class Mamba2 extends SsmBackbone<Mamba2Config> {
  /** Chunk length of the SSD scan (a speed setting: the numbers agree up to rounding). */
  scanChunk = 64;

  /** Mamba2Mixer on flat [B·T, d] → [B·T, d]. */
  protected mixer(i: number, n: Value, seq: Sequence): Value {
    const c = this.config;
    const w = this.weights;
    const g = n.graph;
    const p = `backbone.layers.${i}.mixer`;
    const [E, H, P, N, G, K] = [c.intermediateSize, c.numHeads, c.headDim, c.stateSize, c.nGroups, c.convKernel];
    const convDim = E + 2 * G * N;
    const batchDim = seq.x.shape[0];
    const [z, xBC, dtRaw] = op.split(linear(w, n, `${p}.in_proj`, [E + convDim + H, c.hiddenSize], c.useBias), -1, [
      E,
      convDim,
      H,
    ]);
    const conv = this.causalConv(i, op.reshape(xBC, seq.shape([convDim])), convDim, K, p, c.useConvBias, seq);
    const [xs, Bs, Cs] = op.split(this.act(conv), -1, [E, G * N, G * N]); // [B, T, ·]

    let dt = op.softplusExact(op.add(dtRaw, w.value(g, `${p}.dt_bias`, [H])));
    const [lo, hi] = c.timeStepLimit;
    if (lo > 0) dt = op.where(op.less(dt, g.scalar(lo)), g.scalar(lo), dt);
    if (hi < Infinity) dt = op.where(op.greater(dt, g.scalar(hi)), g.scalar(hi), dt);
    const A = op.neg(op.exp(w.value(g, `${p}.A_log`, [H])));
    // B and C: one per group, shared by its H/G heads.
    const perHead = (v: Value) => {
      const grouped = op.reshape(v, seq.shape([G, 1, N]));
      const all =
        G === H
          ? grouped
          : op.expand(grouped, op.concat([seq.batch, seq.length, g.ints([G, H / G, N])], 0), [
              batchDim,
              seq.x.shape[1],
              G,
              H / G,
              N,
            ]);
      return op.reshape(all, seq.shape([H, N]));
    };
    const X = op.reshape(xs, seq.shape([H, P]));
    let y = this.carriedScan(i, [batchDim, H, P, N], seq, (h0) =>
      ssdScan(
        { dt: op.reshape(dt, seq.shape([H])), A, x: X, B: perHead(Bs), C: perHead(Cs), h0 },
        { chunk: this.scanChunk },
      ),
    );
    y = op.add(y, op.mul(X, op.unsqueeze(w.value(g, `${p}.D`, [H]), [-1]))); // [B, T, H, P]
    const gated = rmsNorm(op.mul(op.reshape(y, [-1, E]), this.act(z)), w.value(g, `${p}.norm.weight`, [E]), c.normEps);
    return linear(w, gated, `${p}.out_proj`, [c.hiddenSize, E], c.useBias);
  }
}

export const mamba2: Architecture<Mamba2Config> = {
  modelTypes: ['mamba2'],
  configure: configureMamba2,
  create: (config, weights) => new Mamba2(config, weights),
};

/**
 * Building blocks shared by the architectures, in graph form (src/engine/graph/ops.ts): every op here has a
 * vector-Jacobian product, so the step graph carries the gradient back to the [mem] vectors. The residual stream is
 * kept flat, [B·T, d], so every frozen projection is one Gemm over the weight in its stored layout.
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import type { RopeScaling } from './config.ts';
import type { Sequence } from './sequence.ts';
import type { Weights } from './weights.ts';

/** y = x·Wᵀ (+ b) for a PyTorch Linear weight `${prefix}.weight` [out, in] and x [M, in]. */
export function linear(w: Weights, x: Value, prefix: string, shape: [number, number], bias = false): Value {
  const g = x.graph;
  const W = w.value(g, `${prefix}.weight`, shape);
  const b = bias ? w.value(g, `${prefix}.bias`, [shape[0]]) : null;
  return op.linear2d(x, W, b);
}

/** y = x·W + b for a GPT-2 Conv1D weight stored [in, out]. */
export function conv1d(w: Weights, x: Value, prefix: string, shape: [number, number]): Value {
  const g = x.graph;
  return op.linear2d(x, w.value(g, `${prefix}.weight`, shape), w.value(g, `${prefix}.bias`, [shape[1]]), true);
}

/** RMSNorm as Hugging Face computes it: x / sqrt(mean(x²) + eps) · w (Gemma: · (1 + w)). */
export function rmsNorm(x: Value, weight: Value | null, eps: number, opts: { unitOffset?: boolean } = {}): Value {
  const variance = op.reduceMean(op.powScalar(x, 2), [-1], true);
  const normed = op.div(x, op.sqrt(op.addScalar(variance, eps)));
  if (!weight) return normed;
  return op.mul(normed, opts.unitOffset ? op.addScalar(weight, 1) : weight);
}

/** LayerNorm over the last axis; weight and bias may be absent (OLMo's non-parametric LayerNorm). */
export function layerNorm(x: Value, weight: Value | null, bias: Value | null, eps: number): Value {
  const centered = op.sub(x, op.reduceMean(x, [-1], true));
  const variance = op.reduceMean(op.powScalar(centered, 2), [-1], true);
  let y = op.div(centered, op.sqrt(op.addScalar(variance, eps)));
  if (weight) y = op.mul(y, weight);
  if (bias) y = op.add(y, bias);
  return y;
}

export type ActivationName = 'silu' | 'gelu' | 'gelu_new' | 'gelu_tanh' | 'relu';

export function activation(name: ActivationName, x: Value): Value {
  switch (name) {
    case 'silu':
      return op.siluExact(x); // ONNX Runtime's CPU Sigmoid is coarse for x ≪ 0 (see ops.sigmoidExact)
    case 'relu':
      return op.relu(x);
    case 'gelu':
      return op.mul(op.scale(x, 0.5), op.addScalar(op.erf(op.scale(x, Math.SQRT1_2)), 1));
    case 'gelu_new':
    case 'gelu_tanh': {
      const inner = op.scale(op.add(x, op.scale(op.powScalar(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return op.mul(op.scale(x, 0.5), op.addScalar(op.tanh(inner), 1));
    }
  }
}

/**
 * Inverse rotary frequencies 1/theta^(2i/dim) in float32 as Hugging Face computes them, with Llama-3's "llama3"
 * scaling when given: low frequencies divided by `factor`, a smooth blend between the low_freq and high_freq
 * wavelengths.
 */
export function ropeInverseFrequencies(
  rotaryDim: number,
  theta: number,
  scaling: RopeScaling | null = null,
): Float32Array {
  const half = rotaryDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / theta ** ((2 * i) / rotaryDim));
  if (scaling?.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions: ctx } = scaling;
    const lowFreqWavelen = ctx / lowFreqFactor;
    const highFreqWavelen = ctx / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowFreqWavelen) inv[i] = inv[i] / factor;
      else if (wavelen >= highFreqWavelen) {
        const smooth = (ctx / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / factor) + smooth * inv[i];
      }
    }
  } else if (scaling?.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = inv[i] / scaling.factor;
  }
  return Float32Array.from(inv);
}

/** RoPE's cos and sin tables, [T, rotaryDim/2] each. */
export interface RopeTables {
  cos: Value;
  sin: Value;
}

/** cos and sin of position · inverse frequency, [T, rotaryDim/2], built once per graph and table. */
export function ropeTables(
  seq: Sequence,
  rotaryDim: number,
  theta: number,
  scaling: RopeScaling | null = null,
): RopeTables {
  const key = `rope:${rotaryDim}:${theta}:${JSON.stringify(scaling)}`;
  return seq.g.memoize(key, () => {
    const inv = seq.g.constant(ropeInverseFrequencies(rotaryDim, theta, scaling), [1, rotaryDim / 2], 'float32');
    const angles = op.mul(op.unsqueeze(seq.positionsFloat(), [1]), inv);
    const attention = scaling?.attentionFactor ?? 1;
    const cos = op.cos(angles);
    const sin = op.sin(angles);
    return attention === 1 ? { cos, sin } : { cos: op.scale(cos, attention), sin: op.scale(sin, attention) };
  });
}

/**
 * Rotary embedding on the first `rotaryDim` features of x [B, H, T, D]. `interleaved` rotates adjacent pairs
 * (llama2.c, GPT-J); otherwise the two halves (Hugging Face rotate_half).
 */
export function rope(x: Value, tables: RopeTables, rotaryDim: number, interleaved = false): Value {
  const D = x.dim(-1);
  const half = rotaryDim / 2;
  const [rot, pass] = rotaryDim === D ? [x, null] : op.split(x, -1, [rotaryDim, D - rotaryDim]);
  const { cos, sin } = tables;
  let out: Value;
  if (interleaved) {
    const pairs = op.reshape(rot, [0, 0, 0, half, 2]);
    const [x0, x1] = op.split(pairs, -1, [1, 1]);
    const c = op.unsqueeze(cos, [-1]);
    const s = op.unsqueeze(sin, [-1]);
    const y = op.concat([op.sub(op.mul(x0, c), op.mul(x1, s)), op.add(op.mul(x0, s), op.mul(x1, c))], -1);
    out = op.reshape(y, [0, 0, 0, rotaryDim]);
  } else {
    const [x1, x2] = op.split(rot, -1, [half, half]);
    out = op.concat([op.sub(op.mul(x1, cos), op.mul(x2, sin)), op.add(op.mul(x2, cos), op.mul(x1, sin))], -1);
  }
  return pass ? op.concat([out, pass], -1) : out;
}

/** Flat [B·T, H·D] → [B, H, T, D]. */
export function splitHeads(seq: Sequence, x: Value, heads: number, headDim: number): Value {
  return op.transpose(op.reshape(x, seq.shape([heads, headDim])), [0, 2, 1, 3]);
}

/** [B, H, T, D] → flat [B·T, H·D]. */
export function mergeHeads(x: Value): Value {
  const H = x.dim(1);
  const D = x.dim(3);
  return op.reshape(op.transpose(x, [0, 2, 1, 3]), [-1, H * D]);
}

export interface AttentionOptions {
  /** Multiplies q·kᵀ (default 1/√D). */
  scale?: number;
  /** Sliding window: query i sees keys j with i − W < j ≤ i. */
  window?: number | null;
  /** Gemma-2 attention logit soft-capping: cap · tanh(scores / cap). */
  softcap?: number | null;
  /** Name of this layer's key/value cache when decoding incrementally. */
  cacheName: string;
}

/**
 * Causal attention softmax(q·kᵀ·scale + bias)·v for q [B, H, T, D] and k, v [B, Hkv, T, D] (grouped-query attention
 * when Hkv < H: each key/value head serves H/Hkv query heads through broadcasting, no copies). With an incremental
 * sequence the keys and values of earlier calls are prepended from the cache and the result is cached.
 */
export function attention(seq: Sequence, q: Value, k: Value, v: Value, opts: AttentionOptions): Value {
  const H = q.dim(1);
  const D = q.dim(3);
  const Hkv = k.dim(1);
  const Dv = v.dim(3);
  const batch = q.shape[0];
  const kAll = seq.carry(`${opts.cacheName}.key`, [batch, Hkv, 'past', D], 2, (past) =>
    past ? op.concat([past, k], 2) : k,
  );
  const vAll = seq.carry(`${opts.cacheName}.value`, [batch, Hkv, 'past', Dv], 2, (past) =>
    past ? op.concat([past, v], 2) : v,
  );
  const rep = H / Hkv;
  const q5 = rep === 1 ? q : op.reshape(q, [0, Hkv, rep, -1, D]);
  const k5 = rep === 1 ? kAll : op.unsqueeze(kAll, [2]);
  const v5 = rep === 1 ? vAll : op.unsqueeze(vAll, [2]);
  const perm = rep === 1 ? [0, 1, 3, 2] : [0, 1, 2, 4, 3];
  const s = opts.scale ?? 1 / Math.sqrt(D);
  let scores = op.matmul(q5, op.transpose(k5, perm));
  if (s !== 1) scores = op.scale(scores, s);
  if (opts.softcap) scores = op.scale(op.tanh(op.scale(scores, 1 / opts.softcap)), opts.softcap);
  scores = op.add(scores, seq.attentionBias(opts.window ?? null));
  const out = op.matmul(op.softmax(scores), v5);
  return rep === 1 ? out : op.reshape(out, [0, H, -1, Dv]);
}

// ---- optional block parts: clipped projections, gated MLPs with biases

/** torch.clamp(x, −c, c): the gradient passes where −c ≤ x ≤ c (OLMo's clip_qkv). */
export function clampSymmetric(x: Value, c: number): Value {
  const g = x.graph;
  const hi = g.scalar(c);
  const lo = g.scalar(-c);
  return op.where(op.greater(x, hi), hi, op.where(op.less(x, lo), lo, x));
}

/** The gated MLP of Llama and its descendants: down(act(gate(x)) · up(x)), for x [M, d]. */
export function gatedMlp(
  w: Weights,
  x: Value,
  prefix: string,
  d: number,
  intermediate: number,
  act: ActivationName,
  bias = false,
): Value {
  const gate = activation(act, linear(w, x, `${prefix}.gate_proj`, [intermediate, d], bias));
  return linear(
    w,
    op.mul(gate, linear(w, x, `${prefix}.up_proj`, [intermediate, d], bias)),
    `${prefix}.down_proj`,
    [d, intermediate],
    bias,
  );
}

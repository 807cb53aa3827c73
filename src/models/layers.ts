/**
 * Building blocks shared by the architectures, written in tfjs ops so autodiff reaches the input embeddings.
 * Frozen weights are plain tensors (never variables): gradients flow only to what the caller differentiates.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama3RopeScaling } from './config.ts';
import { frozenMatrix, type FrozenMatrix } from './frozen-matrix.ts';
import { requireTensor, type TensorMap } from './tensor-map.ts';

/**
 * Constant tensors that depend only on the sequence length (rotary tables, the causal mask): made once per length
 * and kept for the model's lifetime, instead of being rebuilt on every optimisation step.
 */
export class LengthCache {
  private readonly entries = new Map<string, tf.Tensor[]>();
  get<T extends tf.Tensor[]>(key: string, make: () => T): T {
    let e = this.entries.get(key);
    if (!e) {
      e = tf.tidy(() => make()).map((t) => tf.keep(t));
      this.entries.set(key, e);
    }
    return e as T;
  }
  dispose(): void {
    for (const e of this.entries.values()) tf.dispose(e);
    this.entries.clear();
  }
}

/** A tensor that lives as long as the model (kept out of every tidy scope). */
function keep<T extends tf.Tensor>(t: T): T {
  return tf.keep(t);
}

export function weight(map: TensorMap, name: string, shape?: number[]): tf.Tensor {
  const t = requireTensor(map, name, shape);
  return keep(tf.tensor(t.data, t.shape, 'float32'));
}

/**
 * y = x·Wᵀ + b for a frozen weight [out, in] (see FrozenMatrix: cached transposes, input gradient only).
 * A tied output head shares its matrix with the embedding and does not own it.
 */
export class Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(readonly matrix: FrozenMatrix, readonly bias: tf.Tensor1D | null, private readonly ownsMatrix = true) {
    this.outFeatures = matrix.rows;
    this.inFeatures = matrix.cols;
  }

  /** From a PyTorch nn.Linear weight [out, in]. */
  static fromTorch(map: TensorMap, prefix: string, opts: { bias?: boolean; shape?: [number, number] } = {}): Linear {
    const w = frozenMatrix(requireTensor(map, `${prefix}.weight`, opts.shape));
    const b = opts.bias ? (weight(map, `${prefix}.bias`, opts.shape ? [opts.shape[0]] : undefined) as tf.Tensor1D) : null;
    return new Linear(w, b);
  }

  /** From a GPT-2 Conv1D weight, stored [in, out]. */
  static fromConv1D(map: TensorMap, prefix: string, shape?: [number, number]): Linear {
    const w = frozenMatrix(requireTensor(map, `${prefix}.weight`, shape), true);
    return new Linear(w, weight(map, `${prefix}.bias`, shape ? [shape[1]] : undefined) as tf.Tensor1D);
  }

  /** Any leading shape: [..., in] → [..., out]. */
  forward(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    let y: tf.Tensor = this.matrix.project(tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D);
    if (this.bias) y = tf.add(y, this.bias);
    return tf.reshape(y, [...lead, this.outFeatures]);
  }

  dispose(): void {
    if (this.ownsMatrix) this.matrix.dispose();
    this.bias?.dispose();
  }
}

export class RMSNorm {
  constructor(readonly w: tf.Tensor1D, readonly eps: number) {}
  forward(x: tf.Tensor): tf.Tensor {
    const variance = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, this.eps))), this.w);
  }
  dispose(): void { this.w.dispose(); }
}

export class LayerNorm {
  constructor(readonly w: tf.Tensor1D, readonly b: tf.Tensor1D, readonly eps: number) {}
  static load(map: TensorMap, prefix: string, eps: number, dim?: number): LayerNorm {
    const shape = dim ? [dim] : undefined;
    return new LayerNorm(weight(map, `${prefix}.weight`, shape) as tf.Tensor1D, weight(map, `${prefix}.bias`, shape) as tf.Tensor1D, eps);
  }
  forward(x: tf.Tensor): tf.Tensor {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, this.eps))), this.w), this.b);
  }
  dispose(): void { tf.dispose([this.w, this.b]); }
}

export function activation(name: 'silu' | 'gelu' | 'gelu_new' | 'relu', x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'silu': return tf.mul(x, tf.sigmoid(x));
    case 'relu': return tf.relu(x);
    case 'gelu': return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
    case 'gelu_new': {
      const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
    }
  }
}

/**
 * Inverse rotary frequencies 1/theta^(2i/dim), as Hugging Face computes them (float32), with Llama-3's "llama3"
 * scaling when given: low frequencies divided by `factor`, a smooth blend between low_freq and high_freq wavelengths.
 */
export function ropeInverseFrequencies(rotaryDim: number, theta: number, scaling: Llama3RopeScaling | null = null): Float64Array {
  const half = rotaryDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / theta ** ((2 * i) / rotaryDim));
  if (!scaling) return inv;
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
    inv[i] = Math.fround(inv[i]);
  }
  return inv;
}

/**
 * Rotary position embedding tables for positions 0..T-1 (the first [mem] vector is position 0, as in the paper's code).
 * Returned as [T, rotaryDim/2].
 */
export function ropeTables(T: number, rotaryDim: number, theta: number, scaling: Llama3RopeScaling | null = null): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const half = rotaryDim / 2;
  const inv = ropeInverseFrequencies(rotaryDim, theta, scaling);
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let p = 0; p < T; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * inv[i]);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos: tf.tensor2d(cos, [T, half]), sin: tf.tensor2d(sin, [T, half]) };
}

/**
 * Applies rotary embeddings to x [B, H, T, headDim] on its first `rotaryDim` features.
 * `interleaved` rotates adjacent pairs (llama2.c); otherwise the two halves (Hugging Face rotate_half).
 */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D, rotaryDim: number, interleaved: boolean): tf.Tensor4D {
  const [B, H, T, D] = x.shape;
  const half = rotaryDim / 2;
  const rot = rotaryDim === D ? x : tf.slice(x, [0, 0, 0, 0], [B, H, T, rotaryDim]);
  let out: tf.Tensor;
  if (interleaved) {
    const pairs = tf.reshape(rot, [B, H, T, half, 2]);
    const [x0, x1] = tf.split(pairs, 2, 4);
    const c = tf.reshape(cos, [T, half, 1]);
    const s = tf.reshape(sin, [T, half, 1]);
    out = tf.reshape(tf.concat([tf.sub(tf.mul(x0, c), tf.mul(x1, s)), tf.add(tf.mul(x0, s), tf.mul(x1, c))], 4), [B, H, T, rotaryDim]);
  } else {
    const [x1, x2] = tf.split(rot, 2, 3);
    out = tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], 3);
  }
  if (rotaryDim === D) return out as tf.Tensor4D;
  return tf.concat([out, tf.slice(x, [0, 0, 0, rotaryDim], [B, H, T, D - rotaryDim])], 3) as tf.Tensor4D;
}

/**
 * Additive attention bias [B or 1, 1, T, T]: causal, plus key padding when a mask [B, T] (1 = real) is given.
 * -1e9 rather than -inf so that a fully masked row cannot produce NaN.
 */
export function attentionBias(T: number, mask?: tf.Tensor2D, cache?: LengthCache): tf.Tensor4D {
  const causal = () => {
    const values = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = -1e9;
    return [tf.tensor4d(values, [1, 1, T, T])];
  };
  const [bias] = cache ? cache.get(`causal:${T}`, causal) : causal();
  if (!mask) return bias as tf.Tensor4D;
  const keyBias = tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), -1e9), [mask.shape[0], 1, 1, T]);
  return tf.add(bias, keyBias) as tf.Tensor4D;
}

/** [B, T, H*D] → [B, H, T, D] */
export function splitHeads(x: tf.Tensor, heads: number, headDim: number): tf.Tensor4D {
  const [B, T] = x.shape;
  return tf.transpose(tf.reshape(x, [B, T, heads, headDim]), [0, 2, 1, 3]);
}

/** [B, H, T, D] → [B, T, H*D] */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [B, H, T, D] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [B, T, H * D]);
}

/** Grouped-query attention: each of `rep` query heads shares one key/value head (HF repeat_kv order). */
export function repeatKv(x: tf.Tensor4D, rep: number): tf.Tensor4D {
  if (rep === 1) return x;
  const [B, Hkv, T, D] = x.shape;
  // Rank-4 tile: tfjs has no tile gradient beyond rank 4.
  return tf.reshape(tf.tile(tf.reshape(x, [B, Hkv, 1, T * D]), [1, 1, rep, 1]), [B, Hkv * rep, T, D]);
}

/** softmax(q·kᵀ·scale + bias)·v with q, k, v [B, H, T, D]. */
export function scaledDotAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, bias: tf.Tensor4D): tf.Tensor4D {
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), scale), bias);
  return tf.matMul(tf.softmax(scores, -1), v) as tf.Tensor4D;
}

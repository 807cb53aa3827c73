/**
 * A frozen weight W [rows, cols] as the models use it: x·Wᵀ (with the input gradient dy·W and no weight gradient),
 * dy·W for hand-written gradients, and row lookup for embeddings. Dense — W and Wᵀ both cached, so no transposed
 * matmul runs in either direction (slow on wasm) — or split into row blocks when one WebGPU storage binding cannot
 * hold it (engine/split-matmul.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { bindingLimitBytes, needsSplit, SplitWeight } from '../engine/split-matmul.ts';
import type { HostTensor } from './tensor-map.ts';

export interface FrozenMatrix {
  readonly rows: number;
  readonly cols: number;
  /** x [M, cols] → x·Wᵀ [M, rows], differentiable w.r.t. x. */
  project(x: tf.Tensor2D): tf.Tensor2D;
  /** dy [M, rows] → dy·W [M, cols]. */
  backward(dy: tf.Tensor2D): tf.Tensor2D;
  /** Rows of W for integer ids of any shape → [...ids.shape, cols]. */
  gatherRows(ids: tf.Tensor): tf.Tensor;
  dispose(): void;
}

export class DenseMatrix implements FrozenMatrix {
  readonly rows: number;
  readonly cols: number;
  private readonly apply: (x: tf.Tensor2D) => tf.Tensor2D;

  constructor(readonly w: tf.Tensor2D, readonly wT: tf.Tensor2D) {
    [this.rows, this.cols] = w.shape;
    this.apply = tf.customGrad((x, _save) => ({
      value: tf.matMul(x as tf.Tensor2D, wT),
      gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, w),
    })) as unknown as (x: tf.Tensor2D) => tf.Tensor2D;
  }

  /** From an existing W (the matrix keeps it and a transpose). */
  static of(w: tf.Tensor2D): DenseMatrix {
    return new DenseMatrix(tf.keep(w), tf.keep(tf.transpose(w)));
  }

  project(x: tf.Tensor2D): tf.Tensor2D { return this.apply(x); }
  backward(dy: tf.Tensor2D): tf.Tensor2D { return tf.matMul(dy, this.w); }
  gatherRows(ids: tf.Tensor): tf.Tensor { return tf.gather(this.w, tf.cast(ids, 'int32')); }
  dispose(): void { tf.dispose([this.w, this.wT]); }
}

/** Host data → dense on the device, or row blocks when it exceeds the backend's binding limit. */
export function frozenMatrix(host: HostTensor, storedTransposed = false): FrozenMatrix {
  const data = storedTransposed ? transposeHost(host) : host;
  const [rows, cols] = data.shape;
  const limit = bindingLimitBytes();
  if (needsSplit(rows, cols, limit)) return SplitWeight.fromHost(data.data, rows, cols, limit!);
  return DenseMatrix.of(tf.tensor2d(data.data, [rows, cols]));
}

function transposeHost(t: HostTensor): HostTensor {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out };
}

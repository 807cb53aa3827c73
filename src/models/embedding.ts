import * as tf from '@tensorflow/tfjs-core';
import { weight } from './layers.ts';
import { requireTensor, type TensorMap } from './tensor-map.ts';

/** A frozen embedding table: lookup without a gradient path into the weights. */
export class Embedding {
  constructor(readonly table: tf.Tensor2D, private readonly stdValue: number) {}

  static load(map: TensorMap, name: string, shape: [number, number]): Embedding {
    return new Embedding(weight(map, name, shape) as tf.Tensor2D, hostStd(requireTensor(map, name).data));
  }

  lookup(ids: tf.Tensor): tf.Tensor {
    return tf.gather(this.table, tf.cast(ids, 'int32'));
  }

  /** torch.std of the whole matrix (unbiased, n-1): the paper's init scale. */
  std(): number {
    return this.stdValue;
  }

  dispose(): void { this.table.dispose(); }
}

/** Computed once from the host copy, in float64: no device readback, and the same on every backend. */
function hostStd(x: Float32Array): number {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i] - mean) ** 2;
  return Math.sqrt(ss / (x.length - 1));
}

import * as tf from '@tensorflow/tfjs-core';
import { frozenMatrix, type FrozenMatrix } from './frozen-matrix.ts';
import { Linear } from './layers.ts';
import { requireTensor, type TensorMap } from './tensor-map.ts';

/** A frozen embedding table: lookup without a gradient path into the weights. */
export class Embedding {
  constructor(readonly matrix: FrozenMatrix, private readonly stdValue: number) {}

  static load(map: TensorMap, name: string, shape: [number, number]): Embedding {
    const host = requireTensor(map, name, shape);
    return new Embedding(frozenMatrix(host), hostStd(host.data));
  }

  lookup(ids: tf.Tensor): tf.Tensor {
    return this.matrix.gatherRows(ids);
  }

  /** The output head of a model with tied embeddings: logits = h·Eᵀ over the same matrix (owned here). */
  tiedHead(): Linear {
    return new Linear(this.matrix, null, false);
  }

  /** torch.std of the whole matrix (unbiased, n-1): the paper's init scale. */
  std(): number {
    return this.stdValue;
  }

  dispose(): void { this.matrix.dispose(); }
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

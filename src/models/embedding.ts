import * as tf from '@tensorflow/tfjs-core';

/** A frozen embedding table: lookup without a gradient path into the weights. */
export class Embedding {
  constructor(readonly table: tf.Tensor2D) {}

  lookup(ids: tf.Tensor): tf.Tensor {
    return tf.gather(this.table, tf.cast(ids, 'int32'));
  }

  /** torch.std of the whole matrix (unbiased, n-1), accumulated in float64 so it does not depend on the backend. */
  std(): number {
    const x = this.table.dataSync();
    let mean = 0;
    for (let i = 0; i < x.length; i++) mean += x[i];
    mean /= x.length;
    let ss = 0;
    for (let i = 0; i < x.length; i++) ss += (x[i] - mean) ** 2;
    return Math.sqrt(ss / (x.length - 1));
  }

  dispose(): void { this.table.dispose(); }
}

/**
 * Frozen weights too large for one WebGPU storage binding (2 GiB on an H100, 128 MiB on lavapipe; see
 * webgpu.ts maxBindingBytes()). The [V, d] embedding / head matrices are the ones that overflow first: an 8B model's
 * embedding is 128256 × 4096 fp32 = 2.1 GB. A SplitWeight keeps such a matrix as row blocks, each under the limit,
 * and never builds the whole tensor:
 * - gatherRows(ids): the embedding lookup (no gradient: the weight is frozen and ids are integers);
 * - matMulBlocks(h [M, d]): logits h·Wᵀ [M, V] as the concatenation of per-block matmuls, with a custom gradient
 *   dh = dlogits·W = Σ_blocks dlogits[:, block]·W_block (no weight gradient), like Linear in models/layers.ts;
 * - backward(dlogits): that same sum, for code that writes its own gradient (cram/text-loss.ts).
 * Blocks keep W_i [r_i, d] and, like Linear, a cached transpose W_iᵀ [d, r_i], so neither direction needs a
 * transposed matmul.
 */
import * as tf from '@tensorflow/tfjs-core';
import { maxBindingBytes } from './webgpu.ts';

/**
 * The largest tensor one storage binding may hold, or null when there is no such limit (wasm, cpu). The env
 * CRAM_MAX_BINDING_BYTES overrides it on any backend (to test the split path without a GPU).
 */
export function bindingLimitBytes(): number | null {
  const forced = Number(process.env.CRAM_MAX_BINDING_BYTES);
  if (Number.isFinite(forced) && forced > 0) return forced;
  return tf.getBackend() === 'webgpu' ? maxBindingBytes() : null;
}

/** Rows per block so that one block of `cols` float32 columns fits in `maxBytes` (at least 1 row). */
export function rowsPerBlock(cols: number, maxBytes: number, bytesPerElement = 4): number {
  if (!(maxBytes > 0) || !(cols > 0)) throw new Error(`rowsPerBlock: bad cols ${cols} / maxBytes ${maxBytes}`);
  const rows = Math.floor(maxBytes / (cols * bytesPerElement));
  if (rows < 1) throw new Error(`one row of ${cols} floats (${cols * bytesPerElement} bytes) exceeds the ${maxBytes}-byte binding limit`);
  return rows;
}

/** Whether a [rows, cols] float32 matrix must be split under `maxBytes` (null = no limit known: never). */
export function needsSplit(rows: number, cols: number, maxBytes: number | null): boolean {
  return maxBytes !== null && rows * cols * 4 > maxBytes;
}

export class SplitWeight {
  /** Row blocks W_i [r_i, cols] and their transposes [cols, r_i]. */
  readonly blocks: tf.Tensor2D[];
  readonly blocksT: tf.Tensor2D[];
  /** First row of each block. */
  readonly offsets: number[];
  private readonly projectFn: (h: tf.Tensor2D) => tf.Tensor2D;

  private constructor(readonly rows: number, readonly cols: number, blocks: tf.Tensor2D[], blocksT: tf.Tensor2D[]) {
    this.blocks = blocks;
    this.blocksT = blocksT;
    let off = 0;
    this.offsets = blocks.map((b) => { const o = off; off += b.shape[0]; return o; });
    if (off !== rows) throw new Error(`SplitWeight: blocks cover ${off} rows, expected ${rows}`);
    this.projectFn = tf.customGrad((h, _save) => ({
      value: this.concatLogits(h as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor) => this.backward(dy as tf.Tensor2D),
    })) as unknown as (h: tf.Tensor2D) => tf.Tensor2D;
  }

  /** From host data (row-major [rows, cols]); each block is uploaded on its own, the whole matrix never is. */
  static fromHost(data: Float32Array, rows: number, cols: number, maxBlockBytes: number): SplitWeight {
    if (data.length !== rows * cols) throw new Error(`SplitWeight.fromHost: ${data.length} values for [${rows}, ${cols}]`);
    const per = rowsPerBlock(cols, maxBlockBytes);
    const blocks: tf.Tensor2D[] = [];
    const blocksT: tf.Tensor2D[] = [];
    for (let r0 = 0; r0 < rows; r0 += per) {
      const r = Math.min(per, rows - r0);
      const b = tf.keep(tf.tensor2d(data.subarray(r0 * cols, (r0 + r) * cols), [r, cols]));
      blocks.push(b);
      blocksT.push(tf.keep(tf.transpose(b)));
    }
    return new SplitWeight(rows, cols, blocks, blocksT);
  }

  /** From an existing tensor (small enough to exist: tests, or a weight on a backend without the limit). */
  static fromTensor(w: tf.Tensor2D, maxBlockBytes: number): SplitWeight {
    const [rows, cols] = w.shape;
    const per = rowsPerBlock(cols, maxBlockBytes);
    const blocks: tf.Tensor2D[] = [];
    const blocksT: tf.Tensor2D[] = [];
    for (let r0 = 0; r0 < rows; r0 += per) {
      const b = tf.keep(tf.slice(w, [r0, 0], [Math.min(per, rows - r0), cols]));
      blocks.push(b);
      blocksT.push(tf.keep(tf.transpose(b)));
    }
    return new SplitWeight(rows, cols, blocks, blocksT);
  }

  get numBlocks(): number { return this.blocks.length; }

  /** Rows of W for integer ids of any shape → [...ids.shape, cols]. Out-of-range ids give zero rows. */
  gatherRows(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const flat = tf.reshape(tf.cast(ids, 'int32'), [-1]) as tf.Tensor1D;
      if (this.blocks.length === 1) return tf.reshape(tf.gather(this.blocks[0], flat), [...ids.shape, this.cols]);
      let out: tf.Tensor | null = null;
      this.blocks.forEach((b, i) => {
        const off = this.offsets[i];
        const r = b.shape[0];
        const local = tf.sub(flat, tf.scalar(off, 'int32'));
        const inBlock = tf.logicalAnd(tf.greaterEqual(local, tf.scalar(0, 'int32')), tf.less(local, tf.scalar(r, 'int32')));
        // Clamp so every gather index is valid; rows from other blocks are zeroed by the mask.
        const rowsI = tf.gather(b, tf.minimum(tf.maximum(local, tf.scalar(0, 'int32')), tf.scalar(r - 1, 'int32')) as tf.Tensor1D);
        const part = tf.mul(rowsI, tf.expandDims(tf.cast(inBlock, 'float32'), 1));
        out = out ? tf.add(out, part) : part;
      });
      return tf.reshape(out!, [...ids.shape, this.cols]);
    });
  }

  private concatLogits(h: tf.Tensor2D): tf.Tensor2D {
    const parts = this.blocksT.map((bt) => tf.matMul(h, bt));
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor2D;
  }

  /** logits = h·Wᵀ [M, rows] for h [M, cols]; differentiable w.r.t. h (dh = dlogits·W, summed over blocks). */
  project(h: tf.Tensor2D): tf.Tensor2D {
    return this.matMulBlocks(h);
  }

  matMulBlocks(h: tf.Tensor2D): tf.Tensor2D {
    if (h.shape[1] !== this.cols) throw new Error(`matMulBlocks: h has ${h.shape[1]} columns, W has ${this.cols}`);
    return this.projectFn(h);
  }

  /** dh = dlogits·W [M, cols] for dlogits [M, rows], as Σ_i dlogits[:, block i]·W_i. */
  backward(dlogits: tf.Tensor2D): tf.Tensor2D {
    if (dlogits.shape[1] !== this.rows) throw new Error(`backward: dlogits has ${dlogits.shape[1]} columns, W has ${this.rows} rows`);
    return tf.tidy(() => {
      const M = dlogits.shape[0];
      if (this.blocks.length === 1) return tf.matMul(dlogits, this.blocks[0]);
      const terms = this.blocks.map((b, i) => tf.matMul(tf.slice(dlogits, [0, this.offsets[i]], [M, b.shape[0]]) as tf.Tensor2D, b));
      return tf.addN(terms) as tf.Tensor2D;
    });
  }

  dispose(): void {
    tf.dispose([...this.blocks, ...this.blocksT]);
  }
}

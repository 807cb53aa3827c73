/**
 * The paper's objective: mean next-token cross-entropy (natural log) over text positions 1..N-1, read from the
 * hidden states of the text positions only ([mem] outputs dropped), and teacher-forced argmax accuracy over the
 * same predictions. Batched: every row is one text, right-padded; each text's loss is its own mean, so summing
 * the per-text losses gives each text exactly its own gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Linear } from '../models/layers.ts';

/** Keep softmax probabilities for the backward pass when they fit this budget; else recompute them per chunk. */
const SAVE_PROBS_MAX_FLOATS = 96 * 1024 * 1024;
/** Rows of logits computed at once (bounds the [rows, V] temporaries). */
const ROWS_PER_CHUNK_FLOATS = 16 * 1024 * 1024;

export interface TextLossOutput {
  /** Per-text mean CE [B] (differentiable w.r.t. the hidden states). */
  loss: tf.Tensor1D;
  /** Per-text count of correct argmax predictions [B] (no gradient). */
  correct: tf.Tensor1D;
}

/**
 * hidden: [B, T, h] where text position 0 of row b sits at column `offset`, lengths[b] = N_b text tokens (≥ 2).
 * labels: int32 [B, maxN] text ids (padding arbitrary).
 */
export function textLoss(head: Linear, hidden: tf.Tensor3D, labels: tf.Tensor2D, lengths: number[], offset: number): TextLossOutput {
  const [B, , H] = hidden.shape;
  const maxN = Math.max(...lengths);
  const P = maxN - 1; // predictions per row
  // Hidden states of text positions 0..N-2 predict text tokens 1..N-1.
  const h2 = tf.reshape(tf.slice(hidden, [0, offset, 0], [B, P, H]), [B * P, H]);
  const target = tf.reshape(tf.slice(labels, [0, 1], [B, P]), [B * P]) as tf.Tensor1D;
  const wData = new Float32Array(B * P);
  const validData = new Float32Array(B * P);
  lengths.forEach((n, b) => {
    if (n < 2) throw new Error(`text ${b} has ${n} token(s); at least 2 are needed to score a prediction`);
    for (let i = 0; i < n - 1; i++) { wData[b * P + i] = 1 / (n - 1); validData[b * P + i] = 1; }
  });
  const weights = tf.tensor1d(wData);
  const valid = tf.tensor1d(validData);
  const { ce, hit } = rowCrossEntropy(head, h2 as tf.Tensor2D, target);
  const loss = tf.sum(tf.reshape(tf.mul(ce, weights), [B, P]), 1) as tf.Tensor1D;
  const correct = tf.sum(tf.reshape(tf.mul(hit, valid), [B, P]), 1) as tf.Tensor1D;
  return { loss, correct };
}

/**
 * Cross-entropy of each row of logits = h·headᵀ against its target, with a hand-written gradient:
 *   dh = (softmax·dy)·W − dy·W[target]
 * One exp pass per logit (kept, with its row sums, for the backward pass when it fits the budget; otherwise
 * recomputed chunk by chunk), no dense one-hot, no gradient through logSumExp or gather. `hit` (argmax == target)
 * comes from the same logits and carries no gradient.
 */
export function rowCrossEntropy(head: Linear, h: tf.Tensor2D, target: tf.Tensor1D,
  limits: { chunkFloats?: number; saveFloats?: number } = {}): { ce: tf.Tensor1D; hit: tf.Tensor1D } {
  const [M] = h.shape;
  const V = head.outFeatures;
  const rowsPerChunk = Math.max(1, Math.floor((limits.chunkFloats ?? ROWS_PER_CHUNK_FLOATS) / V));
  const saveExp = M * V <= (limits.saveFloats ?? SAVE_PROBS_MAX_FLOATS);
  const chunks: [number, number][] = [];
  for (let start = 0; start < M; start += rowsPerChunk) chunks.push([start, Math.min(rowsPerChunk, M - start)]);
  const hitHolder: tf.Tensor[] = [];

  /** exp(logits − rowmax) and its row sums: softmax = e / s, logSumExp = rowmax + log s. */
  const expStats = (hc: tf.Tensor2D) => {
    const logits = head.forward(hc) as tf.Tensor2D;
    const mx = tf.max(logits, 1, true);
    const e = tf.exp(tf.sub(logits, mx));
    return { logits, mx, e, s: tf.sum(e, 1, true) };
  };

  // customGrad passes (…inputs, save); its typing cannot express that, hence the casts.
  const op = tf.customGrad(((hIn: tf.Tensor, tIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const hh = hIn as tf.Tensor2D;
    const tt = tIn as tf.Tensor1D;
    const ces: tf.Tensor[] = [];
    const hits: tf.Tensor[] = [];
    const kept: tf.Tensor[] = [];
    for (const [start, rows] of chunks) {
      const tc = tf.slice(tt, [start], [rows]);
      const { logits, mx, e, s } = expStats(tf.slice(hh, [start, 0], [rows, -1]));
      const lse = tf.reshape(tf.add(mx, tf.log(s)), [-1]);
      const flatIdx = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(V, 'int32')), tf.cast(tc, 'int32'));
      ces.push(tf.sub(lse, tf.gather(tf.reshape(logits, [-1]), flatIdx)));
      hits.push(tf.cast(tf.equal(tf.argMax(logits, 1), tc), 'float32'));
      if (saveExp) kept.push(e, s);
    }
    hitHolder.push(tf.keep(hits.length === 1 ? hits[0] : tf.concat(hits)));
    save([hh, tt, ...kept]);
    return {
      value: ces.length === 1 ? ces[0] : tf.concat(ces),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [hs, ts, ...stats] = saved;
        const grads = chunks.map(([start, rows], i) => {
          const { e, s } = saveExp ? { e: stats[2 * i], s: stats[2 * i + 1] } : expStats(tf.slice(hs as tf.Tensor2D, [start, 0], [rows, -1]));
          const dyc = tf.expandDims(tf.slice(dy, [start], [rows]), 1);
          const softmaxTimesDy = tf.mul(e, tf.div(dyc, s));
          const targetRows = head.matrix.gatherRows(tf.slice(ts, [start], [rows]));
          return tf.sub(head.matrix.backward(softmaxTimesDy as tf.Tensor2D), tf.mul(dyc, targetRows));
        });
        return [grads.length === 1 ? grads[0] : tf.concat(grads), tf.zerosLike(ts)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const ce = op(h, target) as tf.Tensor1D;
  const hit = hitHolder[0] as tf.Tensor1D;
  // The kept hit tensor joins the caller's scope so an enclosing tidy disposes it.
  const tracked = tf.clone(hit);
  hit.dispose();
  return { ce, hit: tracked };
}

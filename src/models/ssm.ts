/**
 * The selective scan of Mamba (a diagonal state-space recurrence whose decay, input and output maps change with every
 * position), in graph form:
 *
 *   h_t = exp(Δ_t ⊗ A) ⊙ h_{t−1} + (Δ_t ⊙ x_t) ⊗ B_t,   y_t = h_t · C_t        (h_t: [D, N] per row)
 *
 * Two ways, tested against each other (test/models/ssm.test.ts) and against Hugging Face through the models:
 *
 * - `selectiveScan`, the fast path, chunked: positions are cut into chunks of L (static; the sequence is padded with
 *   Δ = 0, which neither decays nor feeds the state). Inside every chunk, all chunks at once, the recurrence runs from a
 *   zero state (op.linearScan: L steps over [B, chunks, D, N] slices); the decay from the chunk start to each position
 *   is exp of a cumulative sum of Δ·A within the chunk. Between chunks, the state entering chunk c is
 *   Σ_{c' < c} exp(Σ_{k = c'+1 … c−1} logdecay_k) · S_{c'} (S = a chunk's own end state), one masked matrix over the
 *   chunks whose exponents are segment sums taken by a masked cumulative sum (never differences of large cumulative
 *   sums), all ≤ 0, so nothing overflows however strong the decay. The chunk count is dynamic, so one graph serves
 *   every length.
 * - `selectiveScanSequential`, the reference: one step per position, unrolled, as Hugging Face's slow path computes it
 *   (static T only: for tests and tiny inputs).
 */
import type { Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';

export interface ScanInputs {
  /** Δ after softplus, [B, T, D]. */
  dt: Value;
  /** A = −exp(A_log), [D, N]. */
  A: Value;
  /** B, [B, T, N]. */
  B: Value;
  /** C, [B, T, N]. */
  C: Value;
  /** The scanned input x (after the convolution and SiLU), [B, T, D]. */
  x: Value;
  /** State before the first position, [B, D, N] (carried between incremental calls); null: zeros. */
  h0?: Value | null;
}

export interface ScanOutputs {
  /** y_t = h_t · C_t, [B, T, D] (without the D·x skip term and the gate). */
  y: Value;
  /** The state after the last position, [B, D, N]. */
  last: Value;
}

/** Default chunk length of the fast path (see bench: 16 balances the unrolled steps against the chunk matrix). */
export const DEFAULT_SCAN_CHUNK = 16;

/** Zeros [B, n, ...rest] for an int64 [1] batch size and an int64 [1] count. */
export function zerosRows(batch: Value, n: Value, rest: number[], dims: (number | string)[]): Value {
  const g = batch.graph;
  return op.expand(g.scalar(0), op.concat([batch, n, g.ints(rest)], 0), dims);
}

/** The chunked selective scan (see the file's comment). `chunk` is L. */
export function selectiveScan(inp: ScanInputs, opts: { chunk?: number } = {}): ScanOutputs {
  const { dt, A, B, C, x } = inp;
  const g = x.graph;
  const L = opts.chunk ?? DEFAULT_SCAN_CHUNK;
  const D = x.dim(2);
  const N = A.dim(1);
  const batch = op.dimOf(x, 0);
  const T = op.dimOf(x, 1);
  const bSym = x.shape[0];
  // Chunks: nC = ⌈T / L⌉, padded length nC·L.
  const nC = op.div(op.add(T, g.ints([L - 1])), g.ints([L]));
  const pad = op.sub(op.mul(nC, g.ints([L])), T);
  const cSym = g.freshDim();
  const padded = (v: Value) => op.concat([v, zerosRows(batch, pad, [v.dim(2)], [bSym, g.freshDim(), v.dim(2)])], 1);
  const chunked = (v: Value, rest: number[]) => op.reshape(padded(v), { value: op.concat([batch, nC, g.ints([L, ...rest])], 0), shape: [bSym, cSym, L, ...rest] });
  const dt5 = chunked(dt, [D, 1]); // [B, nC, L, D, 1]
  const x5 = chunked(x, [D, 1]);
  const B5 = chunked(B, [1, N]); // [B, nC, L, 1, N]
  const C5 = chunked(C, [N, 1]); // [B, nC, L, N, 1]

  const dA = op.mul(dt5, A); // [B, nC, L, D, N], log decay per step (≤ 0)
  const local = op.linearScan(op.exp(dA), op.mul(op.mul(dt5, x5), B5), 2); // from a zero state in every chunk
  const logDecay = op.cumsum(dA, 2); // from the chunk start, inclusive

  // Between chunks. S'_0 = h0, S'_{c+1} = chunk c's end state; λ'_{c+1} = chunk c's total log decay (λ'_0 unused).
  const lastOf = (v: Value) => op.squeeze(op.slice(v, [L - 1], [L], [2]), [2]); // [B, nC, D, N]
  const one = g.ints([1]);
  const h0 = inp.h0 ? op.unsqueeze(inp.h0, [1]) : zerosRows(batch, one, [D, N], [bSym, 1, D, N]);
  const S = op.transpose(op.concat([h0, lastOf(local)], 1), [0, 2, 3, 1]); // [B, D, N, nC+1]
  const lam = op.transpose(op.concat([zerosRows(batch, one, [D, N], [bSym, 1, D, N]), lastOf(logDecay)], 1), [0, 2, 3, 1]);
  const c1 = op.add(nC, one);
  const idx = op.range(g.scalar(0, 'int64'), c1);
  const i = op.unsqueeze(idx, [1]);
  const j = op.unsqueeze(idx, [0]);
  // seg[i, j] = Σ_{j < k ≤ i} λ'_k: the masked matrix summed down its columns.
  const seg = op.cumsum(op.where(op.greater(i, j), op.unsqueeze(lam, [-1]), g.scalar(0)), -2); // [B, D, N, nC+1, nC+1]
  const decay = op.exp(op.where(op.lessOrEqual(j, i), seg, g.scalar(-Infinity)));
  const H = op.reduceSum(op.mul(decay, op.unsqueeze(S, [-2])), [-1], false); // [B, D, N, nC+1]: state entering chunk c
  const entering = op.unsqueeze(op.transpose(op.slice(H, [0], [nC], [3], cSym), [0, 3, 1, 2]), [2]); // [B, nC, 1, D, N]
  const last = op.squeeze(op.slice(H, [-1], [2 ** 62], [3], 1), [3]);

  const h = op.add(local, op.mul(op.exp(logDecay), entering));
  const y5 = op.matmul(h, C5); // [B, nC, L, D, 1]
  const y = op.slice(op.reshape(y5, { value: op.concat([batch, op.mul(nC, g.ints([L])), g.ints([D])], 0), shape: [bSym, g.freshDim(), D] }), [0], [T], [1], x.shape[1]);
  return { y, last };
}

/** The reference: one unrolled step per position, in Hugging Face's order (static T). */
export function selectiveScanSequential(inp: ScanInputs): ScanOutputs {
  const { dt, A, B, C, x } = inp;
  const T = x.dim(1);
  const at = (v: Value, t: number) => op.squeeze(op.slice(v, [t], [t + 1], [1]), [1]);
  const decay = op.exp(op.mul(op.unsqueeze(dt, [-1]), A)); // [B, T, D, N]
  const input = op.mul(op.mul(op.unsqueeze(dt, [-1]), op.unsqueeze(B, [2])), op.unsqueeze(x, [-1])); // (Δ·B)·x
  let h: Value | null = inp.h0 ?? null;
  const ys: Value[] = [];
  for (let t = 0; t < T; t++) {
    h = h ? op.add(op.mul(at(decay, t), h), at(input, t)) : at(input, t);
    ys.push(op.matmul(h, op.unsqueeze(at(C, t), [-1]))); // [B, D, 1]
  }
  return { y: op.transpose(op.concat(ys, 2), [0, 2, 1]), last: h! };
}

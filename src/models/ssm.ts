/**
 * The selective scan of Mamba (a diagonal state-space recurrence whose decay, input and output maps change with every
 * position), in graph form:
 *
 *   h_t = exp(Δ_t ⊗ A) ⊙ h_{t−1} + (Δ_t ⊙ x_t) ⊗ B_t,   y_t = h_t · C_t        (h_t: [D, N] per row)
 *
 * Two ways, tested against each other (test/models/ssm.test.ts) and against Hugging Face through the models:
 *
 * - `selectiveScan`, the fast path, chunked: positions are cut into chunks of L (static; the sequence is padded with
 *   Δ = 0, which neither decays nor feeds the state). Three levels, so that no level is long:
 *   1. inside every chunk, all chunks at once, the recurrence runs from a zero state (op.selectiveChunkScan: L steps
 *      over [B, chunks, D, N] slices, the decays and inputs made from Δ, Δ·x and B, the VJP keeping only the states);
 *   2. the chunks' end states are carried across groups of `group` chunks the same way (op.linearScan over the much
 *      smaller [B, groups, D, N] slices);
 *   3. between groups (a dynamic count: one graph serves every length), the state entering group k is
 *      Σ_{j ≤ k} exp(A · Σ_{j < i ≤ k} τ_i) · S_j over the groups' totals τ (ΣΔ) and end states S: one masked matrix
 *      whose exponents are segment sums taken by a masked cumulative sum (never differences of large cumulative
 *      sums), all ≤ 0, so nothing overflows however strong the decay.
 *   The decay from a chunk's start to each position is exp(A · cumulative ΣΔ); op.ssmReadout adds the decayed entering
 *   state to the chunk-local states and reads them out through C without keeping the corrected states.
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

/** Default chunk length of the fast path, and the chunks per group of the second level (see bench). */
export const DEFAULT_SCAN_CHUNK = 16;
export const DEFAULT_SCAN_GROUP = 8;

/** Zeros [B, n, ...rest] for an int64 [1] batch size and an int64 [1] count. */
export function zerosRows(batch: Value, n: Value, rest: number[], dims: (number | string)[]): Value {
  const g = batch.graph;
  return op.expand(g.scalar(0), op.concat([batch, n, g.ints(rest)], 0), dims);
}

/** [B, n, ...] → [B, ⌈n/L⌉, L, ...], padded with zeros along axis 1; `count` is n as int64 [1]. */
function grouped(v: Value, count: Value, L: number): { value: Value; groups: Value } {
  const g = v.graph;
  const batch = op.dimOf(v, 0);
  const rest = v.shape.slice(2) as number[];
  const groups = op.div(op.add(count, g.ints([L - 1])), g.ints([L]));
  const pad = op.sub(op.mul(groups, g.ints([L])), count);
  const padded = op.concat([v, zerosRows(batch, pad, rest, [v.shape[0], g.freshDim(), ...rest])], 1);
  return {
    value: op.reshape(padded, {
      value: op.concat([batch, groups, g.ints([L, ...rest])], 0),
      shape: [v.shape[0], g.freshDim(), L, ...rest],
    }),
    groups,
  };
}

/** Axis 2's last entry, dropped: [B, n, L, ...] → [B, n, ...]. */
function lastOf(v: Value): Value {
  const L = v.dim(2);
  return op.squeeze(op.slice(v, [L - 1], [L], [2]), [2]);
}

/**
 * Levels 2 and 3: the recurrence h_c = exp(A·τ_c) ⊙ h_{c−1} + s_c over a dynamic count of steps (the chunks: s their
 * end states from zero, τ their ΣΔ), from h_{−1} = h0: in groups of `group` steps (op.linearScan inside a group, all
 * groups at once), then between groups one masked matrix over the groups. Returns the state entering every step
 * (h_{c−1}, [B, n, D, N]) and the state after the last one ([B, D, N]).
 */
function stepStates(
  s: Value,
  tau: Value,
  A: Value,
  h0: Value | null,
  count: Value,
  group: number,
): { entering: Value; last: Value } {
  const g = s.graph;
  const [D, N] = [A.dim(0), A.dim(1)];
  const batch = op.dimOf(s, 0);
  const bSym = s.shape[0];
  const { value: packed, groups } = grouped(op.concat([s, tau], -1), count, group); // [B, G, group, D, N + 1]
  const [s4, t4] = op.split(packed, -1, [N, 1]);
  const inGroup = op.linearScan(op.exp(op.mul(t4, A)), s4, 2); // from a zero state at every group's start
  const cum = op.cumsum(t4, 2);
  // Between groups: S'_0 = h0, S'_{k+1} = group k's end state; τ'_{k+1} = group k's total (τ'_0 unused).
  const one = g.ints([1]);
  const first = h0 ? op.unsqueeze(h0, [1]) : zerosRows(batch, one, [D, N], [bSym, 1, D, N]);
  const S = op.transpose(op.concat([first, lastOf(inGroup)], 1), [0, 2, 3, 1]); // [B, D, N, G+1]
  const lam = op.transpose(op.concat([zerosRows(batch, one, [D, 1], [bSym, 1, D, 1]), lastOf(cum)], 1), [0, 2, 3, 1]); // [B, D, 1, G+1]
  const idx = op.range(g.scalar(0, 'int64'), op.add(groups, one));
  const i = op.unsqueeze(idx, [1]);
  const j = op.unsqueeze(idx, [0]);
  // seg[i, j] = Σ_{j < k ≤ i} τ'_k: the masked matrix summed down its columns; decay = exp(A · seg) on and below the diagonal.
  const seg = op.cumsum(op.where(op.greater(i, j), op.unsqueeze(lam, [-1]), g.scalar(0)), -2); // [B, D, 1, G+1, G+1]
  const decay = op.exp(op.where(op.lessOrEqual(j, i), op.mul(seg, op.unsqueeze(A, [-1, -2])), g.scalar(-Infinity))); // [B, D, N, G+1, G+1]
  const H = op.reduceSum(op.mul(decay, op.unsqueeze(S, [-2])), [-1], false); // [B, D, N, G+1]: state entering group k, then the last
  const enteringGroup = op.unsqueeze(op.transpose(op.slice(H, [0], [groups], [3]), [0, 3, 1, 2]), [2]); // [B, G, 1, D, N]
  const last = op.squeeze(op.slice(H, [-1], [2 ** 62], [3], 1), [3]);
  // Every step's end state, then shifted by one: the state entering step c.
  const ends = op.add(inGroup, op.mul(op.exp(op.mul(cum, A)), enteringGroup)); // [B, G, group, D, N]
  const flat = op.reshape(ends, {
    value: op.concat([batch, op.mul(groups, g.ints([group])), g.ints([D, N])], 0),
    shape: [bSym, g.freshDim(), D, N],
  });
  const entering = op.slice(op.concat([first, flat], 1), [0], [count], [1], s.shape[1]);
  return { entering, last };
}

/** The chunked selective scan (see the file's comment). `chunk` is L; `group` the chunks per group between chunks. */
export function selectiveScan(inp: ScanInputs, opts: { chunk?: number; group?: number } = {}): ScanOutputs {
  const { dt, A, B, C, x } = inp;
  const L = opts.chunk ?? DEFAULT_SCAN_CHUNK;
  const T = op.dimOf(x, 1);
  const D = x.dim(2);
  const N = A.dim(1);
  // One padding and one reshape for all four: [B, T, ·] → [B, nC, L, ·], padded with Δ = 0.
  const { value: packed, groups: nC } = grouped(op.concat([dt, op.mul(dt, x), B, C], -1), T, L);
  const [d4, u4, B4, C4] = op.split(packed, -1, [D, D, N, N]);
  const d5 = op.unsqueeze(d4, [-1]); // [B, nC, L, D, 1]
  const B5 = op.unsqueeze(B4, [3]); // [B, nC, L, 1, N]
  const C5 = op.unsqueeze(C4, [-1]); // [B, nC, L, N, 1]

  // Inside every chunk from a zero state; Δ summed from the chunk start (the decay to each position is exp(A·ΣΔ)).
  const local = op.selectiveChunkScan(d5, op.unsqueeze(u4, [-1]), B5, A, 2); // h [B, nC, L, D, N], last [B, nC, 1, D, N]
  const cumDt = op.cumsum(d5, 2); // [B, nC, L, D, 1]
  const { entering, last } = stepStates(
    op.squeeze(local.last, [2]),
    lastOf(cumDt),
    A,
    inp.h0 ?? null,
    nC,
    opts.group ?? DEFAULT_SCAN_GROUP,
  );
  // y = (h_local + exp(A·ΣΔ) ⊙ h_entering) · C, without keeping the corrected states.
  const y5 = op.squeeze(op.ssmReadout(local.h, cumDt, A, op.unsqueeze(entering, [2]), C5), [-1]); // [B, nC, L, D]
  const g = x.graph;
  const flat = op.reshape(y5, {
    value: op.concat([op.dimOf(x, 0), op.mul(nC, g.ints([L])), g.ints([D])], 0),
    shape: [x.shape[0], g.freshDim(), D],
  });
  return { y: op.slice(flat, [0], [T], [1], x.shape[1]), last };
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

// ---------------------------------------------------------------- Mamba-2: one scalar decay per head (SSD)

export interface SsdInputs {
  /** Δ after softplus, [B, T, H]. */
  dt: Value;
  /** A = −exp(A_log), [H]. */
  A: Value;
  /** x per head, [B, T, H, P]. */
  x: Value;
  /** B and C per head (groups already repeated over their heads), [B, T, H, N]. */
  B: Value;
  C: Value;
  /** State before the first position, [B, H, P, N]; null: zeros. */
  h0?: Value | null;
}

/** Segment sums seg[i, j] = Σ_{j < k ≤ i} x_k over the last axis (a masked cumulative sum), −∞ above the diagonal. */
function segmentSums(x: Value, n: Value | number): Value {
  const g = x.graph;
  const idx =
    typeof n === 'number' ? g.ints(Array.from({ length: n }, (_, i) => i)) : op.range(g.scalar(0, 'int64'), n);
  const i = op.unsqueeze(idx, [1]);
  const j = op.unsqueeze(idx, [0]);
  const seg = op.cumsum(op.where(op.greater(i, j), op.unsqueeze(x, [-1]), g.scalar(0)), -2);
  return op.where(op.lessOrEqual(j, i), seg, g.scalar(-Infinity));
}

/**
 * Mamba-2's scan, h_t = exp(Δ_t·A_h) · h_{t−1} + Δ_t · x_t ⊗ B_t, y_t = h_t · C_t per head, in the chunked "SSD" form
 * (the decay is a scalar per head and position, so within a chunk the scan is a masked matrix product):
 *   within a chunk  y = ((C·Bᵀ) ⊙ exp(seg(Δ·A))) · (Δ·x), the segment sums by a masked cumulative sum;
 *   chunk states    S_c = (Δ·x ⊙ exp(Σ_{k>s} Δ·A))ᵀ · B (the decay to the chunk end as a reverse cumulative sum);
 *   between chunks  one masked matrix over the (dynamic count of) chunks, h0 first;
 *   entering state  y += (C · S_enteringᵀ) ⊙ exp(cumulative Δ·A).
 * Every exponent is a sum of Δ·A ≤ 0 taken directly, never a difference of cumulative sums. `chunk` is L (static).
 * Returns y [B, T, H, P] (without the D skip term) and the state after the last position [B, H, P, N].
 */
export function ssdScan(inp: SsdInputs, opts: { chunk?: number } = {}): { y: Value; last: Value } {
  const { dt, A, x, B, C } = inp;
  const g = x.graph;
  const L = opts.chunk ?? 64;
  const [H, P, N] = [x.dim(2), x.dim(3), B.dim(3)];
  const batch = op.dimOf(x, 0);
  const bSym = x.shape[0];
  const T = op.dimOf(x, 1);
  const flat = (v: Value, w: number) =>
    op.reshape(v, { value: op.concat([batch, T, g.ints([w])], 0), shape: [bSym, x.shape[1], w] });
  const xdt = op.mul(x, op.unsqueeze(dt, [-1]));
  const { value: packed, groups: nC } = grouped(
    op.concat([op.mul(dt, A), flat(xdt, H * P), flat(B, H * N), flat(C, H * N)], -1),
    T,
    L,
  );
  const cSym = packed.shape[1];
  const [a4, x4, B4, C4] = op.split(packed, -1, [H, H * P, H * N, H * N]); // [B, nC, L, ·], padded with Δ = 0
  const heads = (v: Value, w: number) => op.transpose(op.reshape(v, [0, 0, L, H, w]), [0, 1, 3, 2, 4]); // [B, nC, H, L, w]
  const X = heads(x4, P);
  const Bh = heads(B4, N);
  const Ch = heads(C4, N);
  const dA = op.transpose(a4, [0, 1, 3, 2]); // [B, nC, H, L]
  const cum = op.cumsum(dA, -1);
  // Within chunks.
  const scores = op.mul(op.matmul(Ch, op.transpose(Bh, [0, 1, 2, 4, 3])), op.exp(segmentSums(dA, L))); // [B, nC, H, L, L]
  const yDiag = op.matmul(scores, X); // [B, nC, H, L, P]
  // Each chunk's own end state (from zero): Σ_s exp(Σ_{k>s} Δ·A) Δ·x_s ⊗ B_s.
  const toEnd = op.exp(op.cumsum(dA, -1, { reverse: true, exclusive: true })); // [B, nC, H, L]
  const own = op.matmul(op.transpose(op.mul(X, op.unsqueeze(toEnd, [-1])), [0, 1, 2, 4, 3]), Bh); // [B, nC, H, P, N]
  // Between chunks: S'_0 = h0, S'_{c+1} = chunk c's own end state; totals τ'_{c+1} = chunk c's Σ Δ·A.
  const one = g.ints([1]);
  const first = inp.h0 ? op.unsqueeze(inp.h0, [1]) : zerosRows(batch, one, [H, P, N], [bSym, 1, H, P, N]);
  const S = op.reshape(op.transpose(op.concat([first, own], 1), [0, 2, 1, 3, 4]), [0, 0, -1, P * N]); // [B, H, nC+1, P·N]
  const totals = op.squeeze(op.slice(cum, [L - 1], [L], [3]), [3]); // [B, nC, H]
  const tau = op.transpose(op.concat([zerosRows(batch, one, [H], [bSym, 1, H]), totals], 1), [0, 2, 1]); // [B, H, nC+1]
  const states = op.matmul(op.exp(segmentSums(tau, op.add(nC, one))), S); // [B, H, nC+1, P·N]: entering chunk c, then the last
  const entering = op.transpose(op.reshape(op.slice(states, [0], [nC], [2], cSym), [0, 0, -1, P, N]), [0, 2, 1, 4, 3]); // [B, nC, H, N, P]
  const last = op.reshape(op.squeeze(op.slice(states, [-1], [2 ** 62], [2], 1), [2]), [0, H, P, N]);
  const yOff = op.mul(op.matmul(Ch, entering), op.unsqueeze(op.exp(cum), [-1])); // [B, nC, H, L, P]
  const y = op.transpose(op.add(yDiag, yOff), [0, 1, 3, 2, 4]); // [B, nC, L, H, P]
  const yFlat = op.reshape(y, {
    value: op.concat([batch, op.mul(nC, g.ints([L])), g.ints([H, P])], 0),
    shape: [bSym, g.freshDim(), H, P],
  });
  return { y: op.slice(yFlat, [0], [T], [1], x.shape[1]), last };
}

/** Mamba-2's reference: one unrolled step per position (static T), as Hugging Face's cached decoding step computes it. */
export function ssdScanSequential(inp: SsdInputs): { y: Value; last: Value } {
  const { dt, A, x, B, C } = inp;
  const T = x.dim(1);
  const at = (v: Value, t: number) => op.squeeze(op.slice(v, [t], [t + 1], [1]), [1]);
  let h: Value | null = inp.h0 ?? null;
  const ys: Value[] = [];
  for (let t = 0; t < T; t++) {
    const d = at(dt, t); // [B, H]
    const decay = op.unsqueeze(op.exp(op.mul(d, A)), [-1, -2]); // [B, H, 1, 1]
    const input = op.mul(op.unsqueeze(op.mul(op.unsqueeze(d, [-1]), at(B, t)), [2]), op.unsqueeze(at(x, t), [-1])); // (Δ·B)·x: [B, H, P, N]
    h = h ? op.add(op.mul(h, decay), input) : input;
    ys.push(op.unsqueeze(op.squeeze(op.matmul(h, op.unsqueeze(at(C, t), [-1])), [-1]), [1])); // [B, 1, H, P]
  }
  return { y: op.concat(ys, 1), last: h! };
}

/**
 * What a model's layers need to know about the sequence in the graph being built: its batch and length (dynamic),
 * the positions (0 on the first [mem] vector, as in the paper's code; offset by the cached length when decoding
 * incrementally), masks and rotary tables built once per graph, and state carried between incremental calls (a key/
 * value cache for attention, a recurrent state for Mamba).
 */
import type { Dim, Graph, Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';

export interface CarriedState {
  /** Graph input for this state's value from earlier calls (its sequence axis may have size 0 on the first call). */
  input: Value;
  /** Set by the layer: the state after this call, a graph output. */
  output?: Value;
  /** Sequence axis of the state (the KV cache grows along it); null for fixed-size states. */
  axis: number | null;
}

export class Sequence {
  /** int64 [1]: rows in the batch. */
  readonly batch: Value;
  /** int64 [1]: positions in this call. */
  readonly length: Value;
  /** int64 [1]: positions already cached from earlier calls (0 without a cache). */
  readonly pastLength: Value;
  /** Present when the graph decodes incrementally: state by name. */
  readonly carried: Map<string, CarriedState> | null;

  constructor(
    readonly g: Graph,
    readonly x: Value,
    opts: { pastLength?: Value; incremental?: boolean } = {},
  ) {
    this.batch = op.dimOf(x, 0);
    this.length = op.dimOf(x, 1);
    this.pastLength = opts.pastLength ?? g.ints([0]);
    this.carried = opts.incremental ? new Map() : null;
  }

  get incremental(): boolean {
    return this.carried !== null;
  }

  /** int64 [T]: absolute positions of this call's tokens. */
  positions(): Value {
    return this.g.memoize('positions', () =>
      op.add(op.range(this.g.scalar(0, 'int64'), this.length, this.x.shape[1]), this.pastLength),
    );
  }

  /** float [T]: positions as float32 (rotary angles). */
  positionsFloat(): Value {
    return this.g.memoize('positionsFloat', () => op.cast(this.positions(), 'float32'));
  }

  /**
   * Additive attention bias [T, P+T] (0 where allowed, −1e30 where not): query i (absolute P+i) sees key j iff
   * j ≤ P+i, and with a sliding window W also j > P+i−W.
   */
  attentionBias(window: number | null = null): Value {
    return this.g.memoize(`bias:${window}`, () => {
      const g = this.g;
      const q = op.unsqueeze(this.positions(), [1]); // [T, 1]
      const total = op.add(this.pastLength, this.length);
      const k = op.unsqueeze(op.range(g.scalar(0, 'int64'), total), [0]); // [1, P+T]
      let allowed = op.lessOrEqual(k, q);
      if (window !== null) allowed = op.and(allowed, op.greater(k, op.sub(q, g.ints([window], []))));
      return op.where(allowed, g.scalar(0), g.scalar(-1e30));
    });
  }

  /** The int64 shape [B, T, ...rest] for reshaping a flat [B·T, ...] tensor back. */
  shape(rest: number[]): { value: Value; shape: Dim[] } {
    return this.g.memoize(`shape:${rest.join(',')}`, () => ({
      value: op.concat([this.batch, this.length, this.g.ints(rest)], 0),
      shape: [this.x.shape[0], this.x.shape[1], ...rest],
    }));
  }

  /**
   * State carried across incremental calls. Without a cache, returns `update(null)`; with one, feeds the state from
   * earlier calls (a graph input `past.<name>` with `dims`) to `update` and makes its result the output `present.<name>`.
   */
  carry(name: string, dims: Dim[], axis: number | null, update: (past: Value | null) => Value): Value {
    if (!this.carried) return update(null);
    const input = this.g.input(`past.${name}`, 'float32', dims);
    const state: CarriedState = { input, axis };
    this.carried.set(name, state);
    const out = update(input);
    state.output = out;
    return out;
  }
}

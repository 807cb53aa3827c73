/**
 * Greedy generation from input embeddings (e.g. [mem] vectors + BOS): the strict check that a text comes back
 * exactly, and continuation for the compressor. Incremental, with a key/value cache (decode graph): each new token
 * costs one position, not the whole prefix again. Rows that share a prefix length run as one batch; a row that stops
 * (mismatch, EOS, its own limit) leaves the batch, its cache rows dropped.
 */
import type * as OrtTypes from 'onnxruntime-node';
import type { CompiledModel } from './compiled-model.ts';

/** A run of input vectors ([mem] vectors, a memory's vectors) or of tokens. */
export type InputPart = { vectors: Float32Array } | { ids: number[] };

export interface GreedyRow {
  /** The input, in order: vector runs and token runs (same structure and lengths across the rows of one call). */
  parts: InputPart[];
  /** Most tokens to generate. */
  maxNew: number;
  /** Stop at the first generated token that differs from expected[i] (enough to measure an exact prefix). */
  expected?: number[];
  stopAtMismatch?: boolean;
  /** Stop after generating this id. */
  eosId?: number | null;
}

export interface GreedyOptions {
  /** Called after each decoding step with the tokens generated so far (progress for long generations). */
  onToken?: (generatedSoFar: number) => void;
}

function sliceRows(t: OrtTypes.Tensor, keep: number[], ort: CompiledModel['runtime']['ort']): OrtTypes.Tensor {
  const B = t.dims[0];
  const rowSize = t.data.length / B;
  const src = t.data as Float32Array;
  const out = new Float32Array(keep.length * rowSize);
  keep.forEach((b, i) => out.set(src.subarray(b * rowSize, (b + 1) * rowSize), i * rowSize));
  return new ort.Tensor('float32', out, [keep.length, ...t.dims.slice(1)]);
}

/** The prefill calls for a row's parts: each call takes a vector run and/or the token run after it. */
function prefillCalls(parts: InputPart[], d: number): { vectors: Float32Array; ids: number[] }[] {
  const calls: { vectors: Float32Array; ids: number[] }[] = [];
  for (const p of parts) {
    if ('vectors' in p) {
      if (p.vectors.length % d !== 0)
        throw new Error(`a vector run holds ${p.vectors.length} values, not a multiple of ${d}`);
      calls.push({ vectors: p.vectors, ids: [] });
    } else if (calls.length > 0 && calls[calls.length - 1].ids.length === 0) {
      calls[calls.length - 1].ids = p.ids;
    } else {
      calls.push({ vectors: new Float32Array(0), ids: p.ids });
    }
  }
  return calls.filter((c) => c.vectors.length > 0 || c.ids.length > 0);
}

/**
 * The state before the first call: a growing cache (axis set) starts empty along its sequence axis; a fixed-size state
 * (axis null: Mamba's convolution inputs and SSM state) starts as zeros of its full size, which must be static.
 */
export function initialState(
  c: { name: string; dims: (number | string)[]; axis: number | null },
  batch: number,
  ort: CompiledModel['runtime']['ort'],
): OrtTypes.Tensor {
  const dims = c.dims.map((x, i) => {
    if (i === 0) return batch;
    if (typeof x === 'number') return x;
    if (c.axis === null) throw new Error(`carried state ${c.name}: fixed-size, but its axis ${i} is dynamic (${x})`);
    return 0;
  });
  return new ort.Tensor('float32', new Float32Array(dims.reduce((p, q) => p * q, 1)), dims);
}

/** Generates for every row; returns the generated ids per row. */
export async function greedyGenerateMany(
  model: CompiledModel,
  rows: GreedyRow[],
  opts: GreedyOptions = {},
): Promise<number[][]> {
  if (rows.length === 0) return [];
  const d = model.embedDim;
  const plans = rows.map((r) => prefillCalls(r.parts, d));
  const shape = (pl: { vectors: Float32Array; ids: number[] }[]) =>
    pl.map((c) => `${c.vectors.length}/${c.ids.length}`).join(',');
  if (plans.some((pl) => shape(pl) !== shape(plans[0])))
    throw new Error('greedyGenerateMany: rows need the same structure of vector and token runs');
  if (plans[0].length === 0) throw new Error('greedy generation needs at least one input position');
  const maxPositions = model.model.maxPositions;
  const { session, carried } = await model.decoder();
  const ort = model.runtime.ort;
  const out: number[][] = rows.map(() => []);
  let active = rows.map((_, i) => i);
  let caches = new Map<string, OrtTypes.Tensor>();
  for (const c of carried) caches.set(c.name, initialState(c, rows.length, ort));
  let pastLength = 0;
  const run = async (vectors: Float32Array, prefixLen: number, ids: number[], idsLen: number) => {
    const B = active.length;
    const feeds: Record<string, OrtTypes.Tensor> = {
      prefix: new ort.Tensor('float32', vectors, [B, prefixLen, d]),
      ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((x) => BigInt(x))), [B, idsLen]),
      past_length: new ort.Tensor('int64', BigInt64Array.from([BigInt(pastLength)]), [1]),
    };
    for (const c of carried) feeds[`past.${c.name}`] = caches.get(c.name)!;
    const r = await session.run(feeds);
    pastLength += prefixLen + idsLen;
    const next = Array.from(r.next.data as BigInt64Array, Number);
    r.logits.dispose?.();
    return { r, next };
  };
  // Prefill: every call but the last only fills the cache.
  let result: Awaited<ReturnType<typeof run>> | null = null;
  for (const [ci, call] of plans[0].entries()) {
    const prefixLen = call.vectors.length / d;
    if (pastLength + prefixLen + call.ids.length > maxPositions)
      throw new Error(
        `the input (${pastLength + prefixLen + call.ids.length} positions so far) exceeds the model's ${maxPositions} positions`,
      );
    const vectors = new Float32Array(rows.length * call.vectors.length);
    plans.forEach((pl, b) => vectors.set(pl[ci].vectors, b * call.vectors.length));
    result = await run(
      vectors,
      prefixLen,
      plans.flatMap((pl) => pl[ci].ids),
      call.ids.length,
    );
    if (ci < plans[0].length - 1) for (const c of carried) caches.set(c.name, result.r[`present.${c.name}`]);
  }
  for (let step = 0; active.length > 0; step++) {
    const { r, next } = result!;
    const B = active.length;
    const keep: number[] = [];
    next.forEach((tok, i) => {
      const row = rows[active[i]];
      const gen = out[active[i]];
      gen.push(tok);
      const k = gen.length - 1;
      const stop =
        gen.length >= row.maxNew ||
        (row.eosId != null && tok === row.eosId) ||
        (row.stopAtMismatch === true &&
          row.expected !== undefined &&
          (tok !== row.expected[k] || gen.length >= row.expected.length));
      if (!stop) keep.push(i);
    });
    opts.onToken?.(step + 1);
    if (keep.length === 0 || pastLength + 1 > maxPositions) break;
    for (const c of carried) {
      const t = r[`present.${c.name}`];
      caches.set(c.name, keep.length === B ? t : sliceRows(t, keep, ort));
    }
    active = keep.map((i) => active[i]);
    result = await run(
      new Float32Array(0),
      0,
      keep.map((i) => next[i]),
      1,
    );
  }
  return out;
}

/** One row. */
export async function greedyGenerate(
  model: CompiledModel,
  row: GreedyRow,
  opts: GreedyOptions = {},
): Promise<number[]> {
  return (await greedyGenerateMany(model, [row], opts))[0];
}

/** Length of the common prefix of two id lists. */
export function commonPrefixLength(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * A small graph builder for ONNX models with reverse-mode differentiation.
 *
 * Values carry a dtype and a symbolic shape (numbers for static dims, strings for dynamic ones such as "B" or "T").
 * Ops (ops.ts) append ONNX nodes and, when an input depends on a differentiable input (the [mem] vectors), a tape
 * entry with the op's vector-Jacobian product. `gradients()` (autodiff.ts) walks the tape backwards and appends the
 * backward nodes to the same graph, so ONNX Runtime, which has no autodiff, runs forward and backward as one model.
 */

export type DType = 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'bool' | 'uint8';
/** A static size, or the name of a dynamic one. */
export type Dim = number | string;

export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  bfloat16: 16,
};

export type Attr =
  { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string } | { t: InlineTensor };

export interface InlineTensor {
  dtype: DType;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

/** Weights stay in their file: ONNX external data pointing at a byte range (safetensors or llama2.c checkpoints). */
export interface ExternalTensor {
  dtype: DType;
  dims: number[];
  /** File name, relative to the folder the session is given (external_initializers_file_folder_path). */
  location: string;
  offset: number;
  length: number;
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
  domain?: string;
}

export class Value {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Dim[],
    /** Depends on a differentiable input (only such values get gradients). */
    readonly requiresGrad: boolean,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  /** The static size of axis `axis` (negative counts from the end), or throws. */
  dim(axis: number): number {
    const d = this.shape[axis < 0 ? this.shape.length + axis : axis];
    if (typeof d !== 'number')
      throw new Error(`${this.name}: axis ${axis} is dynamic (${d}); a static size is needed here`);
    return d;
  }
}

/**
 * Vector-Jacobian product of one op: the gradients of its outputs (null where an output got none) → the gradients of
 * its inputs (null where an input needs none).
 */
export type Vjp = (outputGrads: (Value | null)[]) => (Value | null)[];

export interface TapeEntry {
  inputs: Value[];
  outputs: Value[];
  vjp: Vjp;
}

export class Graph {
  readonly nodes: NodeSpec[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: { value: Value; name: string }[] = [];
  readonly inline = new Map<string, InlineTensor>();
  readonly external = new Map<string, ExternalTensor>();
  readonly tape: TapeEntry[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, Value>();
  private readonly memo = new Map<string, unknown>();
  private symbols = 0;

  constructor(readonly name = 'cram') {}

  fresh(prefix = 'v'): string {
    return `${prefix}${this.counter++}`;
  }

  /** A new dynamic dim name (for sizes only known at run time). */
  freshDim(): string {
    return `?${this.symbols++}`;
  }

  input(name: string, dtype: DType, shape: Dim[], opts: { requiresGrad?: boolean } = {}): Value {
    const v = new Value(this, name, dtype, shape, opts.requiresGrad === true);
    this.inputs.push(v);
    return v;
  }

  /** Marks `value` as a graph output called `name` (through an Identity so the name is free). */
  output(value: Value, name: string): void {
    const out = new Value(this, name, value.dtype, value.shape, false);
    this.nodes.push({ op: 'Identity', inputs: [value.name], outputs: [out.name], attrs: {} });
    this.outputs.push({ value: out, name });
  }

  /** A small constant, stored inside the model (deduplicated by content). */
  constant(data: Float32Array | BigInt64Array | Int32Array | Uint8Array, dims: number[], dtype: DType): Value {
    const key = `${dtype}:${dims.join(',')}:${data.length <= 64 ? Array.from(data as ArrayLike<number | bigint>, String).join(',') : this.fresh('big')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('c');
    this.inline.set(name, { dtype, dims, data });
    const v = new Value(this, name, dtype, dims, false);
    this.constCache.set(key, v);
    return v;
  }

  scalar(x: number, dtype: 'float32' | 'int64' = 'float32'): Value {
    return dtype === 'float32'
      ? this.constant(new Float32Array([x]), [], 'float32')
      : this.constant(new BigInt64Array([BigInt(x)]), [], 'int64');
  }

  floats(xs: number[], dims: number[] = [xs.length]): Value {
    return this.constant(new Float32Array(xs), dims, 'float32');
  }

  ints(xs: number[], dims: number[] = [xs.length]): Value {
    return this.constant(BigInt64Array.from(xs.map((x) => BigInt(x))), dims, 'int64');
  }

  /** A frozen weight kept in its file (external data). */
  externalTensor(name: string, t: ExternalTensor): Value {
    const hit = this.constCache.get(`ext:${name}`);
    if (hit) return hit;
    this.external.set(name, t);
    const v = new Value(this, name, t.dtype, t.dims, false);
    this.constCache.set(`ext:${name}`, v);
    return v;
  }

  /** Emits one node; returns its outputs. */
  node(
    op: string,
    inputs: (Value | null)[],
    attrs: Record<string, Attr>,
    outputs: { dtype: DType; shape: Dim[]; requiresGrad?: boolean }[],
    domain?: string,
  ): Value[] {
    const outs = outputs.map((o) => new Value(this, this.fresh(), o.dtype, o.shape, o.requiresGrad === true));
    this.nodes.push({ op, inputs: inputs.map((v) => v?.name ?? ''), outputs: outs.map((o) => o.name), attrs, domain });
    return outs;
  }

  /** False while the backward pass is being built: gradient ops need no tape of their own. */
  recording = true;

  record(inputs: Value[], outputs: Value[], vjp: Vjp): void {
    if (this.recording) this.tape.push({ inputs, outputs, vjp });
  }

  /** Per-graph memo for values built once and reused (position tables, masks). */
  memoize<T>(key: string, make: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, make());
    return this.memo.get(key) as T;
  }
}

/** numpy broadcasting of two symbolic shapes. */
export function broadcastShapes(a: Dim[], b: Dim[]): Dim[] {
  const r = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (x === y) out.push(x);
    else if (typeof x === 'number' && typeof y === 'number') throw new Error(`cannot broadcast [${a}] with [${b}]`);
    else out.push(typeof x === 'number' ? x : y);
  }
  return out;
}

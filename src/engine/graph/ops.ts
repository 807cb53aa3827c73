/**
 * Differentiable ONNX ops. Each function appends the forward node(s) and, when an input requires a gradient, records
 * the op's vector-Jacobian product (written by hand, tested against finite differences in test/engine/vjp.test.ts).
 * Only the gradient w.r.t. the inputs that depend on the [mem] vectors is ever built: frozen weights, position tables
 * and masks never get one.
 */
import { broadcastShapes, type Attr, type DType, type Dim, type Value } from './graph.ts';
import { FLOAT32_MODE, type MatmulMode } from '../precision.ts';

type Out = { dtype: DType; shape: Dim[]; requiresGrad?: boolean };

function anyGrad(...xs: (Value | null | undefined)[]): boolean {
  return xs.some((x) => x?.requiresGrad === true);
}

function emit(op: string, inputs: (Value | null)[], attrs: Record<string, Attr>, out: Out, domain?: string): Value {
  const g = inputs.find((v): v is Value => v !== null)!.graph;
  return g.node(op, inputs, attrs, [out], domain)[0];
}

function norm(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

// ---------------------------------------------------------------- shape helpers (no gradient)

/** Shape(x) as an int64 vector. */
export function shapeOf(x: Value): Value {
  return x.graph.memoize(`shape:${x.name}`, () => emit('Shape', [x], {}, { dtype: 'int64', shape: [x.rank] }));
}

/** The size of axis `axis` as an int64 vector [1]. */
export function dimOf(x: Value, axis: number): Value {
  const a = norm(axis, x.rank);
  const d = x.shape[a];
  if (typeof d === 'number') return x.graph.ints([d]);
  return x.graph.memoize(`dim:${x.name}:${a}`, () =>
    emit('Shape', [x], { start: { i: a }, end: { i: a + 1 } }, { dtype: 'int64', shape: [1] }),
  );
}

/**
 * zeros with the shape of x (float32): a scalar 0 expanded (the WebGPU provider has no ConstantOfShape, which would
 * make the zeros on the CPU and copy them to the device).
 */
export function zerosLike(x: Value): Value {
  return emit('Expand', [x.graph.scalar(0), shapeOf(x)], {}, { dtype: 'float32', shape: x.shape });
}

/**
 * Sums a gradient of broadcast shape down to `target`'s shape: reduces the leading axes target lacks and the axes
 * where target has a static 1 that the gradient does not.
 */
export function unbroadcast(grad: Value, target: Value): Value {
  const gs = grad.shape;
  const ts = target.shape;
  const lead = gs.length - ts.length;
  const axes: number[] = [];
  for (let i = 0; i < gs.length; i++) {
    if (i < lead) axes.push(i);
    else if (ts[i - lead] === 1 && gs[i] !== 1) axes.push(i);
    else if (typeof ts[i - lead] === 'string' && typeof gs[i] === 'number' && gs[i] !== 1) {
      // A dynamic dim of the target against a static size in the gradient might be 1 at run time and broadcast:
      // refuse rather than return a gradient of the wrong shape. (Two dynamic dims are taken to be equal: the graphs
      // here never broadcast one sequence or batch axis against another.)
      throw new Error(
        `unbroadcast: cannot tell whether dynamic dim "${ts[i - lead]}" of ${target.name} broadcasts against ${gs[i]}`,
      );
    }
  }
  if (axes.length === 0) return grad;
  let r = reduceSum(grad, axes, true);
  if (lead > 0)
    r = squeeze(
      r,
      Array.from({ length: lead }, (_, i) => i),
    );
  return r;
}

// ---------------------------------------------------------------- elementwise

function binary(
  op: string,
  a: Value,
  b: Value,
  vjp: ((g: Value, out: Value) => [Value | null, Value | null]) | null,
): Value {
  const out = emit(
    op,
    [a, b],
    {},
    { dtype: a.dtype, shape: broadcastShapes(a.shape, b.shape), requiresGrad: vjp !== null && anyGrad(a, b) },
  );
  if (out.requiresGrad && vjp) {
    a.graph.record([a, b], [out], ([g]) => {
      if (!g) return [null, null];
      const [ga, gb] = vjp(g, out);
      return [a.requiresGrad && ga ? unbroadcast(ga, a) : null, b.requiresGrad && gb ? unbroadcast(gb, b) : null];
    });
  }
  return out;
}

export function add(a: Value, b: Value): Value {
  return binary('Add', a, b, (g) => [g, g]);
}

export function sub(a: Value, b: Value): Value {
  return binary('Sub', a, b, (g) => [g, b.requiresGrad ? neg(g) : null]);
}

export function mul(a: Value, b: Value): Value {
  return binary('Mul', a, b, (g) => [a.requiresGrad ? mul(g, b) : null, b.requiresGrad ? mul(g, a) : null]);
}

export function div(a: Value, b: Value): Value {
  return binary('Div', a, b, (g, out) => [
    a.requiresGrad ? div(g, b) : null,
    b.requiresGrad ? neg(div(mul(g, out), b)) : null,
  ]);
}

/** x ** p for a constant exponent p. */
export function powScalar(x: Value, p: number): Value {
  const e = x.graph.scalar(p);
  const out = emit('Pow', [x, e], {}, { dtype: x.dtype, shape: x.shape, requiresGrad: x.requiresGrad });
  if (out.requiresGrad) {
    x.graph.record([x], [out], ([g]) => [g ? mul(g, p === 2 ? scale(x, 2) : scale(powScalar(x, p - 1), p)) : null]);
  }
  return out;
}

/** x · c for a constant c. */
export function scale(x: Value, c: number): Value {
  return mul(x, x.graph.scalar(c));
}

/** x + c for a constant c. */
export function addScalar(x: Value, c: number): Value {
  return add(x, x.graph.scalar(c));
}

function unary(
  op: string,
  x: Value,
  vjp: ((g: Value, out: Value) => Value) | null,
  attrs: Record<string, Attr> = {},
): Value {
  const out = emit(op, [x], attrs, { dtype: x.dtype, shape: x.shape, requiresGrad: vjp !== null && x.requiresGrad });
  if (out.requiresGrad && vjp) x.graph.record([x], [out], ([g]) => [g ? vjp(g, out) : null]);
  return out;
}

export function neg(x: Value): Value {
  return unary('Neg', x, (g) => neg(g));
}
export function exp(x: Value): Value {
  return unary('Exp', x, (g, y) => mul(g, y));
}
export function log(x: Value): Value {
  return unary('Log', x, (g) => div(g, x));
}
export function sqrt(x: Value): Value {
  return unary('Sqrt', x, (g, y) => div(scale(g, 0.5), y));
}
export function reciprocal(x: Value): Value {
  return unary('Reciprocal', x, (g, y) => neg(mul(g, mul(y, y))));
}
export function tanh(x: Value): Value {
  return unary('Tanh', x, (g, y) => mul(g, sub(x.graph.scalar(1), mul(y, y))));
}
export function sigmoid(x: Value): Value {
  return unary('Sigmoid', x, (g, y) => mul(g, mul(y, sub(x.graph.scalar(1), y))));
}
export function erf(x: Value): Value {
  return unary('Erf', x, (g) => mul(g, scale(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI))));
}
export function relu(x: Value): Value {
  return unary('Relu', x, (g) => where(greater(x, x.graph.scalar(0)), g, zerosLike(g)));
}
/** Softplus log(1 + e^x), as torch computes it (x above 20 passes through). */
export function softplus(x: Value): Value {
  const big = greater(x, x.graph.scalar(20));
  const soft = unary('Softplus', x, (g) => mul(g, sigmoid(x)));
  return where(big, x, soft);
}
export function cos(x: Value): Value {
  return unary('Cos', x, null);
}
export function sin(x: Value): Value {
  return unary('Sin', x, null);
}
export function abs(x: Value): Value {
  return unary('Abs', x, null);
}

// ---------------------------------------------------------------- comparisons, selection (no gradient through the condition)

function compare(op: string, a: Value, b: Value): Value {
  return emit(op, [a, b], {}, { dtype: 'bool', shape: broadcastShapes(a.shape, b.shape) });
}
export function equal(a: Value, b: Value): Value {
  return compare('Equal', a, b);
}
export function less(a: Value, b: Value): Value {
  return compare('Less', a, b);
}
export function lessOrEqual(a: Value, b: Value): Value {
  return compare('LessOrEqual', a, b);
}
export function greater(a: Value, b: Value): Value {
  return compare('Greater', a, b);
}
export function and(a: Value, b: Value): Value {
  return compare('And', a, b);
}

export function where(cond: Value, a: Value, b: Value): Value {
  const shape = broadcastShapes(cond.shape, broadcastShapes(a.shape, b.shape));
  const out = emit('Where', [cond, a, b], {}, { dtype: a.dtype, shape, requiresGrad: anyGrad(a, b) });
  if (out.requiresGrad) {
    a.graph.record([cond, a, b], [out], ([g]) => {
      if (!g) return [null, null, null];
      const z = zerosLike(g);
      return [
        null,
        a.requiresGrad ? unbroadcast(where(cond, g, z), a) : null,
        b.requiresGrad ? unbroadcast(where(cond, z, g), b) : null,
      ];
    });
  }
  return out;
}

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  const codes: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10, bfloat16: 16 };
  const floaty = (d: DType) => d === 'float32' || d === 'float16' || d === 'bfloat16';
  // A frozen value cast back to the type it was cast from is that value (a half weight read as float32, then lowered).
  const src = castSource.get(x);
  if (src && src.dtype === to && !x.requiresGrad) return src;
  const out = emit(
    'Cast',
    [x],
    { to: { i: codes[to] } },
    { dtype: to, shape: x.shape, requiresGrad: x.requiresGrad && floaty(to) },
  );
  if (!x.requiresGrad && (x.dtype === 'float16' || x.dtype === 'bfloat16') && to === 'float32') castSource.set(out, x);
  if (out.requiresGrad) x.graph.record([x], [out], ([g]) => [g ? cast(g, x.dtype) : null]);
  return out;
}

// ---------------------------------------------------------------- autocast (src/engine/precision.ts)

/** Frozen float32 values widened from a half type by a Cast, and what they were widened from (exact both ways). */
const castSource = new WeakMap<Value, Value>();

let matmulMode: MatmulMode = FLOAT32_MODE;

/**
 * Builds a graph with its matrix products in `mode` (as torch.autocast: operands and result in the half type, every
 * other op in float32). Graph building is synchronous, so the mode holds exactly for the ops `build` emits.
 */
export function withMatmulPrecision<T>(mode: MatmulMode, build: () => T): T {
  const prev = matmulMode;
  matmulMode = mode;
  try {
    return build();
  } finally {
    matmulMode = prev;
  }
}

function autocasting(): boolean {
  return matmulMode.dtype !== 'float32';
}

/** A float32 value as a product operand: in the half type (native), or rounded to it and kept float32 (emulated). */
function lower(x: Value): Value {
  const h = cast(x, matmulMode.dtype);
  return matmulMode.emulate ? cast(h, 'float32') : h;
}

/** A product's result back in float32 (native), or rounded to the half type (emulated). */
function raise(y: Value): Value {
  return matmulMode.emulate ? cast(cast(y, matmulMode.dtype), 'float32') : cast(y, 'float32');
}

/**
 * The LM head's inputs under autocast, for the fused loss (linearCrossEntropy computes its head product itself):
 * hidden rows and weight blocks rounded to the half type (emulated), so the product sees what a half product sees.
 * Native providers keep the fused head in float32 (its logits feed a float32 loss either way).
 */
export function autocastHeadInputs(h: Value, blocks: RowBlock[]): { h: Value; blocks: RowBlock[] } {
  if (!autocasting() || !matmulMode.emulate) return { h, blocks };
  return { h: lower(h), blocks: blocks.map((b) => ({ ...b, value: lower(b.value) })) };
}

// ---------------------------------------------------------------- matrix products

function transposeLast(x: Value): Value {
  const perm = Array.from({ length: x.rank }, (_, i) => i);
  [perm[x.rank - 1], perm[x.rank - 2]] = [perm[x.rank - 2], perm[x.rank - 1]];
  return transpose(x, perm);
}

/** Batched matrix product with numpy broadcasting of the batch dims (both inputs rank ≥ 2). */
export function matmul(a: Value, b: Value): Value {
  if (a.rank < 2 || b.rank < 2) throw new Error('matmul needs rank ≥ 2 inputs');
  return autocasting() ? raise(matmulIn(lower(a), lower(b))) : matmulIn(a, b);
}

/** MatMul in its operands' type (the backward products too). */
function matmulIn(a: Value, b: Value): Value {
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, a.shape[a.rank - 2], b.shape[b.rank - 1]];
  const out = emit('MatMul', [a, b], {}, { dtype: a.dtype, shape, requiresGrad: anyGrad(a, b) });
  if (out.requiresGrad) {
    a.graph.record([a, b], [out], ([g]) => {
      if (!g) return [null, null];
      const ga = a.requiresGrad ? unbroadcast(matmulIn(g, transposeLast(b)), a) : null;
      const gb = b.requiresGrad ? unbroadcast(matmulIn(transposeLast(a), g), b) : null;
      return [ga, gb];
    });
  }
  return out;
}

/**
 * y = a · bᵀ (+ c) for 2-D a [M, K] and a frozen 2-D b [N, K] (a PyTorch Linear weight), via Gemm(transB): the weight
 * is stored once, in its own layout, for both the forward product and the backward one (dy · b).
 */
export function linear2d(a: Value, w: Value, bias: Value | null = null, transposed = false): Value {
  if (a.rank !== 2 || w.rank !== 2) throw new Error('linear2d needs 2-D inputs');
  if (w.requiresGrad || bias?.requiresGrad) throw new Error('linear2d: weights are frozen');
  if (autocasting()) return raise(gemmIn(lower(a), lower(w), bias ? lower(bias) : null, transposed));
  return gemmIn(a, w, bias, transposed);
}

/** Gemm in its operands' type (the backward product too). */
function gemmIn(a: Value, w: Value, bias: Value | null, transposed: boolean): Value {
  const outDim = transposed ? w.shape[1] : w.shape[0];
  const dtype = a.dtype;
  const out = emit(
    'Gemm',
    bias ? [a, w, bias] : [a, w],
    { transB: { i: transposed ? 0 : 1 } },
    { dtype, shape: [a.shape[0], outDim], requiresGrad: a.requiresGrad },
  );
  if (out.requiresGrad) {
    a.graph.record([a], [out], ([g]) => [
      g
        ? emit(
            'Gemm',
            [g, w],
            { transB: { i: transposed ? 1 : 0 } },
            { dtype, shape: a.shape, requiresGrad: g.requiresGrad },
          )
        : null,
    ]);
  }
  return out;
}

// ---------------------------------------------------------------- layout

export function transpose(x: Value, perm: number[]): Value {
  const out = emit(
    'Transpose',
    [x],
    { perm: { ints: perm } },
    { dtype: x.dtype, shape: perm.map((p) => x.shape[p]), requiresGrad: x.requiresGrad },
  );
  if (out.requiresGrad) {
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => {
      inv[p] = i;
    });
    x.graph.record([x], [out], ([g]) => [g ? transpose(g, inv) : null]);
  }
  return out;
}

/**
 * Reshape to `dims` (ONNX rules: 0 copies the input dim at that index, -1 is inferred), or to a shape given as an
 * int64 value with its symbolic result shape.
 */
export function reshape(x: Value, dims: number[] | { value: Value; shape: Dim[] }): Value {
  let target: Value;
  let shape: Dim[];
  if (Array.isArray(dims)) {
    target = x.graph.ints(dims);
    shape = dims.map((d, i) => (d === 0 ? x.shape[i] : d));
    const minus = shape.indexOf(-1);
    if (minus >= 0) {
      const known = shape.filter((_, i) => i !== minus);
      const total = x.shape.every((s) => typeof s === 'number')
        ? (x.shape as number[]).reduce((p, q) => p * q, 1)
        : null;
      const rest = known.every((s) => typeof s === 'number') ? (known as number[]).reduce((p, q) => p * q, 1) : null;
      shape[minus] = total !== null && rest !== null ? total / rest : x.graph.freshDim();
    }
  } else {
    target = dims.value;
    shape = dims.shape;
  }
  const out = emit('Reshape', [x, target], {}, { dtype: x.dtype, shape, requiresGrad: x.requiresGrad });
  if (out.requiresGrad)
    x.graph.record([x], [out], ([g]) => [g ? reshape(g, { value: shapeOf(x), shape: x.shape }) : null]);
  return out;
}

export function unsqueeze(x: Value, axes: number[]): Value {
  const shape = [...x.shape];
  const rank = x.rank + axes.length;
  for (const a of axes.map((a) => norm(a, rank)).sort((p, q) => p - q)) shape.splice(a, 0, 1);
  const out = emit('Unsqueeze', [x, x.graph.ints(axes)], {}, { dtype: x.dtype, shape, requiresGrad: x.requiresGrad });
  if (out.requiresGrad) x.graph.record([x], [out], ([g]) => [g ? squeeze(g, axes) : null]);
  return out;
}

export function squeeze(x: Value, axes: number[]): Value {
  const drop = new Set(axes.map((a) => norm(a, x.rank)));
  const shape = x.shape.filter((_, i) => !drop.has(i));
  const out = emit('Squeeze', [x, x.graph.ints(axes)], {}, { dtype: x.dtype, shape, requiresGrad: x.requiresGrad });
  if (out.requiresGrad) x.graph.record([x], [out], ([g]) => [g ? unsqueeze(g, axes) : null]);
  return out;
}

/** Broadcast x to `shape` (an int64 value) whose symbolic form is `dims`. */
export function expand(x: Value, shape: Value, dims: Dim[]): Value {
  const out = emit(
    'Expand',
    [x, shape],
    {},
    { dtype: x.dtype, shape: broadcastShapes(x.shape, dims), requiresGrad: x.requiresGrad },
  );
  if (out.requiresGrad) x.graph.record([x], [out], ([g]) => [g ? unbroadcast(g, x) : null]);
  return out;
}

export function concat(xs: Value[], axis: number): Value {
  const a = norm(axis, xs[0].rank);
  const sizes = xs.map((x) => x.shape[a]);
  const total: Dim = sizes.every((s) => typeof s === 'number')
    ? (sizes as number[]).reduce((p, q) => p + q, 0)
    : xs[0].graph.freshDim();
  const shape = [...xs[0].shape];
  shape[a] = total;
  const out = emit('Concat', xs, { axis: { i: a } }, { dtype: xs[0].dtype, shape, requiresGrad: anyGrad(...xs) });
  if (out.requiresGrad) {
    xs[0].graph.record(xs, [out], ([g]) => {
      if (!g) return xs.map(() => null);
      // Offsets along the axis: static sums where the sizes are static, else Shape-derived.
      const grads: (Value | null)[] = [];
      let offset: number | Value = 0;
      for (const x of xs) {
        const size: number | Value = typeof x.shape[a] === 'number' ? (x.shape[a] as number) : dimOf(x, a);
        const end: number | Value =
          typeof offset === 'number' && typeof size === 'number' ? offset + size : addInts(offset, size, g);
        grads.push(x.requiresGrad ? slice(g, [offset], [end], [a], x.shape[a]) : null);
        offset = end;
      }
      return grads;
    });
  }
  return out;
}

function asInt1(v: number | Value, g: Value): Value {
  return typeof v === 'number' ? g.graph.ints([v]) : v;
}

function addInts(a: number | Value, b: number | Value, ref: Value): Value {
  return emit('Add', [asInt1(a, ref), asInt1(b, ref)], {}, { dtype: 'int64', shape: [1] });
}

/** Splits along `axis` into pieces of static sizes. */
export function split(x: Value, axis: number, sizes: number[]): Value[] {
  const a = norm(axis, x.rank);
  const g = x.graph;
  const outs = splitNodes(x, a, sizes, x.requiresGrad);
  if (x.requiresGrad) {
    g.record([x], outs, (grads) => {
      if (grads.every((q) => q === null)) return [null];
      return [
        concat(
          grads.map((q, i) => q ?? zerosLike(outs[i])),
          a,
        ),
      ];
    });
  }
  return outs;
}

/**
 * Outputs per Split node at most. A GPU shader binds each input and output as a storage buffer, and adapters allow as
 * few as 8 per stage (WebGPU's default; SwiftShader 12): a Split with more pieces is done as a Split into groups of
 * pieces, each split again (a tree), so no node binds more than MAX_SPLIT_OUTPUTS + 1 buffers.
 */
export const MAX_SPLIT_OUTPUTS = 7;

/** The nodes of a Split of x along `axis` into pieces of static `sizes`, at most MAX_SPLIT_OUTPUTS per node. */
export function splitNodes(x: Value, axis: number, sizes: number[], requiresGrad = false): Value[] {
  const g = x.graph;
  const a = norm(axis, x.rank);
  const shaped = (n: number) => {
    const shape = [...x.shape];
    shape[a] = n;
    return { dtype: x.dtype, shape, requiresGrad };
  };
  if (sizes.length <= MAX_SPLIT_OUTPUTS)
    return g.node('Split', [x, g.ints(sizes)], { axis: { i: a } }, sizes.map(shaped));
  const per = Math.ceil(sizes.length / MAX_SPLIT_OUTPUTS);
  const groups: number[][] = [];
  for (let i = 0; i < sizes.length; i += per) groups.push(sizes.slice(i, i + per));
  const totals = groups.map((grp) => grp.reduce((t, n) => t + n, 0));
  const parts = splitNodes(x, a, totals, requiresGrad);
  return groups.flatMap((grp, i) => (grp.length === 1 ? [parts[i]] : splitNodes(parts[i], a, grp, requiresGrad)));
}

/**
 * x[starts:ends] along `axes` (step 1). Bounds are numbers or int64 [1] values. `size` is the symbolic size of the
 * result along a single axis when it is known (else a fresh dim).
 */
export function slice(
  x: Value,
  starts: (number | Value)[],
  ends: (number | Value)[],
  axes: number[],
  size?: Dim,
): Value {
  const g = x.graph;
  const toVec = (vs: (number | Value)[]) =>
    vs.every((v) => typeof v === 'number')
      ? g.ints(vs as number[])
      : emit(
          'Concat',
          vs.map((v) => asInt1(v, x)),
          { axis: { i: 0 } },
          { dtype: 'int64', shape: [vs.length] },
        );
  const shape = [...x.shape];
  axes.forEach((ax, i) => {
    const a = norm(ax, x.rank);
    const s = starts[i];
    const e = ends[i];
    if (size !== undefined && axes.length === 1) shape[a] = size;
    else if (
      typeof s === 'number' &&
      typeof e === 'number' &&
      e >= 0 &&
      e < 2 ** 52 &&
      s >= 0 &&
      typeof x.shape[a] === 'number'
    )
      shape[a] = Math.min(e, x.shape[a] as number) - s;
    else shape[a] = g.freshDim();
  });
  const out = emit(
    'Slice',
    [x, toVec(starts), toVec(ends), g.ints(axes.map((ax) => norm(ax, x.rank)))],
    {},
    { dtype: x.dtype, shape, requiresGrad: x.requiresGrad },
  );
  if (out.requiresGrad) {
    g.record([x], [out], ([gr]) => {
      if (!gr) return [null];
      // Pad the gradient back with zeros: before = start, after = dim − end (clamped by the actual slice size).
      const rank = x.rank;
      const before: (number | Value)[] = new Array(rank).fill(0);
      const after: (number | Value)[] = new Array(rank).fill(0);
      axes.forEach((ax, i) => {
        const a = norm(ax, rank);
        // The effective start, as ONNX computes it: a negative start counts from the end, then clamped to [0, dim].
        const dx = dimOf(x, a);
        const dOut = dimOf(out, a);
        const s = starts[i];
        const dim = x.shape[a];
        const i64 = { dtype: 'int64' as const, shape: [1] };
        let st: number | Value;
        if (typeof s === 'number' && typeof dim === 'number') st = Math.min(Math.max(s < 0 ? s + dim : s, 0), dim);
        else if (typeof s === 'number' && s >= 0) st = s;
        else {
          const raw = asInt1(s, x);
          const negative = emit('Less', [raw, g.ints([0])], {}, { dtype: 'bool', shape: [1] });
          const wrapped = emit('Where', [negative, emit('Add', [raw, dx], {}, i64), raw], {}, i64);
          st = emit('Min', [emit('Max', [wrapped, g.ints([0])], {}, i64), dx], {}, i64);
        }
        before[a] = st;
        // after = dim(x) − start − dim(out)
        after[a] = emit('Sub', [emit('Sub', [dx, asInt1(st, x)], {}, i64), dOut], {}, i64);
      });
      const pads = toVec([...before, ...after]);
      return [emit('Pad', [gr, pads], {}, { dtype: gr.dtype, shape: x.shape, requiresGrad: gr.requiresGrad })];
    });
  }
  return out;
}

/** Rows of a frozen table (embedding lookup); no gradient into the table. */
export function gather(data: Value, indices: Value, axis = 0): Value {
  if (data.requiresGrad) throw new Error('gather: gradients into the gathered table are not supported');
  const a = norm(axis, data.rank);
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  // A half table widened to float32: gather its rows, then widen them (no float32 copy of the whole table).
  const half = castSource.get(data);
  if (half) return cast(emit('Gather', [half, indices], { axis: { i: a } }, { dtype: half.dtype, shape }), data.dtype);
  return emit('Gather', [data, indices], { axis: { i: a } }, { dtype: data.dtype, shape });
}

// ---------------------------------------------------------------- reductions, softmax

export function reduceSum(x: Value, axes: number[], keepdims = true): Value {
  return reduction('ReduceSum', x, axes, keepdims, () => 1);
}

/** Mean over axes whose sizes are static. */
export function reduceMean(x: Value, axes: number[], keepdims = true): Value {
  return reduction('ReduceMean', x, axes, keepdims, (ax) => 1 / ax.reduce((p, a) => p * x.dim(a), 1));
}

export function reduceMax(x: Value, axes: number[], keepdims = true): Value {
  return reduction('ReduceMax', x, axes, keepdims, null);
}

/**
 * One ONNX reduction of x over axes. `gradScale` gives, from the normalised axes, the factor by which the gradient
 * spreads evenly back over the reduced entries (sum: 1; mean: 1 / their count); null: no gradient (max).
 */
function reduction(
  type: 'ReduceSum' | 'ReduceMean' | 'ReduceMax',
  x: Value,
  axes: number[],
  keepdims: boolean,
  gradScale: ((ax: number[]) => number) | null,
): Value {
  const ax = axes.map((a) => norm(a, x.rank));
  const factor = gradScale?.(ax) ?? null;
  const shape = keepdims ? x.shape.map((s, i) => (ax.includes(i) ? 1 : s)) : x.shape.filter((_, i) => !ax.includes(i));
  const out = emit(
    type,
    [x, x.graph.ints(ax)],
    { keepdims: { i: keepdims ? 1 : 0 } },
    { dtype: x.dtype, shape, requiresGrad: factor !== null && x.requiresGrad },
  );
  if (out.requiresGrad && factor !== null) {
    x.graph.record([x], [out], ([g]) => {
      if (!g) return [null];
      const kept = keepdims ? g : unsqueeze(g, ax);
      return [expand(factor === 1 ? kept : scale(kept, factor), shapeOf(x), x.shape)];
    });
  }
  return out;
}

export function argMax(x: Value, axis: number, keepdims = false): Value {
  const a = norm(axis, x.rank);
  const shape = keepdims ? x.shape.map((s, i) => (i === a ? 1 : s)) : x.shape.filter((_, i) => i !== a);
  return emit('ArgMax', [x], { axis: { i: a }, keepdims: { i: keepdims ? 1 : 0 } }, { dtype: 'int64', shape });
}

/** softmax over the last axis. */
export function softmax(x: Value): Value {
  const out = emit(
    'Softmax',
    [x],
    { axis: { i: -1 } },
    { dtype: x.dtype, shape: x.shape, requiresGrad: x.requiresGrad },
  );
  if (out.requiresGrad) {
    x.graph.record([x], [out], ([g]) => [g ? mul(out, sub(g, reduceSum(mul(g, out), [-1], true))) : null]);
  }
  return out;
}

// ---------------------------------------------------------------- index helpers (no gradient)

/** int64 [limit − start] = start..limit−1 for int64 scalar-or-[1] bounds; `size` names the length when it is known. */
export function range(start: Value, limit: Value, size?: Dim): Value {
  const g = start.graph;
  const s = start.rank === 0 ? start : squeeze(start, [0]);
  const l = limit.rank === 0 ? limit : squeeze(limit, [0]);
  return emit('Range', [s, l, g.scalar(1, 'int64')], {}, { dtype: 'int64', shape: [size ?? g.freshDim()] });
}

// ---------------------------------------------------------------- the objective's cross-entropy

/**
 * Per-row cross-entropy of logits [M, V] against int64 targets [M], and per-row argmax hits (float 0/1, no gradient).
 * The gradient is the closed form (softmax − onehot) · dce, built from ops every execution provider has (no
 * ScatterElements): softmax = exp(logits − lse) and the one-hot as Equal(iota, target).
 */
export function crossEntropy(logits: Value, targets: Value): { ce: Value; hit: Value } {
  const g = logits.graph;
  const mx = reduceMax(logits, [-1], true);
  const shifted = emit('Sub', [logits, mx], {}, { dtype: 'float32', shape: logits.shape });
  const e = emit('Exp', [shifted], {}, { dtype: 'float32', shape: logits.shape });
  const s = emit(
    'ReduceSum',
    [e, g.ints([1])],
    { keepdims: { i: 1 } },
    { dtype: 'float32', shape: [logits.shape[0], 1] },
  );
  const lse = emit(
    'Add',
    [mx, emit('Log', [s], {}, { dtype: 'float32', shape: s.shape })],
    {},
    { dtype: 'float32', shape: s.shape },
  );
  const t2 = emit('Unsqueeze', [targets, g.ints([1])], {}, { dtype: 'int64', shape: [targets.shape[0], 1] });
  const picked = emit(
    'GatherElements',
    [logits, t2],
    { axis: { i: 1 } },
    { dtype: 'float32', shape: [logits.shape[0], 1] },
  );
  const ce2 = emit('Sub', [lse, picked], {}, { dtype: 'float32', shape: s.shape, requiresGrad: logits.requiresGrad });
  const ce = emit(
    'Squeeze',
    [ce2, g.ints([1])],
    {},
    { dtype: 'float32', shape: [logits.shape[0]], requiresGrad: logits.requiresGrad },
  );
  const hit = cast(equal(argMax(logits, 1, false), targets), 'float32');
  if (ce.requiresGrad) {
    g.record([logits], [ce], ([dce]) => {
      if (!dce) return [null];
      const p = emit('Div', [e, s], {}, { dtype: 'float32', shape: logits.shape });
      const iota = emit(
        'Range',
        [
          g.scalar(0, 'int64'),
          emit('Squeeze', [dimOf(logits, 1), g.ints([0])], {}, { dtype: 'int64', shape: [] }),
          g.scalar(1, 'int64'),
        ],
        {},
        { dtype: 'int64', shape: [logits.shape[1]] },
      );
      // The one-hot compares float32 copies of the ids (exact below 2^24): int64 Equal has no WebGPU kernel and would
      // make the [M, V] mask on the CPU and copy it to the device every step; only the [V] and [M] casts stay there.
      const iotaF = emit('Cast', [iota], { to: { i: 1 } }, { dtype: 'float32', shape: [logits.shape[1]] });
      const tF = emit(
        'Unsqueeze',
        [emit('Cast', [targets], { to: { i: 1 } }, { dtype: 'float32', shape: [logits.shape[0]] }), g.ints([1])],
        {},
        { dtype: 'float32', shape: [logits.shape[0], 1] },
      );
      const onehot = emit(
        'Equal',
        [emit('Unsqueeze', [iotaF, g.ints([0])], {}, { dtype: 'float32', shape: [1, logits.shape[1]] }), tF],
        {},
        { dtype: 'bool', shape: logits.shape },
      );
      const pm = emit(
        'Where',
        [onehot, emit('Sub', [p, g.scalar(1)], {}, { dtype: 'float32', shape: logits.shape }), p],
        {},
        { dtype: 'float32', shape: logits.shape },
      );
      const d2 = emit('Unsqueeze', [dce, g.ints([1])], {}, { dtype: 'float32', shape: [logits.shape[0], 1] });
      return [emit('Mul', [pm, d2], {}, { dtype: 'float32', shape: logits.shape, requiresGrad: true })];
    });
  }
  return { ce, hit };
}

/** A frozen matrix held as row blocks (see Weights.blocks): block i holds rows start … start+rows−1. */
export interface RowBlock {
  value: Value;
  start: number;
  rows: number;
}

/**
 * Rows of a table held as row blocks: each id is looked up in the block that holds it (others give zeros), summed.
 * One block is a plain Gather. No gradient into the table.
 */
export function gatherRowBlocks(blocks: RowBlock[], ids: Value): Value {
  if (blocks.length === 1) return gather(blocks[0].value, ids);
  const g = ids.graph;
  let out: Value | null = null;
  for (const b of blocks) {
    const local = sub(ids, g.scalar(b.start, 'int64'));
    const inside = and(greater(local, g.scalar(-1, 'int64')), less(local, g.scalar(b.rows, 'int64')));
    const safe = where(inside, local, g.scalar(0, 'int64'));
    const rows = where(unsqueeze(inside, [-1]), gather(b.value, safe), g.scalar(0));
    out = out ? add(out, rows) : rows;
  }
  return out!;
}

/**
 * Cross-entropy of logits = h · Wᵀ (+ bias) against int64 targets [M], for a frozen head W [V, H] held as row blocks,
 * and per-row argmax hits (float 0/1, no gradient). The gradient w.r.t. h is the closed form
 *   dh = dce ⊙ (softmax(logits) · W − W[target])
 * so the backward pass makes one [M, V] tensor (the softmax) and no one-hot: the fast path of the objective.
 */
export function linearCrossEntropy(
  h: Value,
  blocks: RowBlock[],
  bias: Value | null,
  targets: Value,
): { ce: Value; hit: Value; logits: Value } {
  const g = h.graph;
  const M = h.shape[0];
  const parts = blocks.map((b, i) =>
    emit(
      'Gemm',
      bias && blocks.length === 1 ? [h, b.value, bias] : [h, b.value],
      { transB: { i: 1 } },
      { dtype: 'float32', shape: [M, b.rows] },
    ),
  );
  let logits =
    parts.length === 1
      ? parts[0]
      : emit(
          'Concat',
          parts,
          { axis: { i: 1 } },
          { dtype: 'float32', shape: [M, blocks.reduce((a, b) => a + b.rows, 0)] },
        );
  if (bias && blocks.length > 1) logits = emit('Add', [logits, bias], {}, { dtype: 'float32', shape: logits.shape });
  // −log softmax at the target as max + log Σ exp(logits − max) − logit[target], from ops every provider runs (the
  // WebGPU provider has no LogSoftmax: it would put the whole [M, V] tensor on the CPU and copy it both ways every
  // step). On the CPU this costs the same time as LogSoftmax (ReduceLogSumExp, which makes no [M, V] intermediate,
  // costs ~15 % more on this loss); its price is one more [M, V] tensor alive at the forward peak. The backward remakes
  // the softmax from the logits.
  const f32 = (shape: Dim[]) => ({ dtype: 'float32' as DType, shape });
  const mx = emit('ReduceMax', [logits, g.ints([1])], { keepdims: { i: 1 } }, f32([M, 1]));
  const e = emit('Exp', [emit('Sub', [logits, mx], {}, f32(logits.shape))], {}, f32(logits.shape));
  const lse = emit(
    'Add',
    [emit('Log', [emit('ReduceSum', [e, g.ints([1])], { keepdims: { i: 1 } }, f32([M, 1]))], {}, f32([M, 1])), mx],
    {},
    f32([M, 1]),
  );
  const t2 = emit('Unsqueeze', [targets, g.ints([1])], {}, { dtype: 'int64', shape: [targets.shape[0], 1] });
  const picked = emit('GatherElements', [logits, t2], { axis: { i: 1 } }, f32([M, 1]));
  const ce = emit(
    'Squeeze',
    [emit('Sub', [lse, picked], {}, f32([M, 1])), g.ints([1])],
    {},
    { dtype: 'float32', shape: [M], requiresGrad: h.requiresGrad },
  );
  const hit = cast(equal(argMax(logits, 1, false), targets), 'float32');
  if (ce.requiresGrad) {
    g.record([h], [ce], ([dce]) => {
      if (!dce) return [null];
      const p = emit('Softmax', [logits], { axis: { i: 1 } }, f32(logits.shape));
      const pieces =
        blocks.length === 1
          ? [p]
          : splitNodes(
              p,
              1,
              blocks.map((b) => b.rows),
            );
      let pw: Value | null = null;
      pieces.forEach((piece, i) => {
        const term = emit('Gemm', [piece, blocks[i].value], { transB: { i: 0 } }, { dtype: 'float32', shape: h.shape });
        pw = pw ? emit('Add', [pw, term], {}, { dtype: 'float32', shape: h.shape }) : term;
      });
      const diff = emit('Sub', [pw!, gatherRowBlocks(blocks, targets)], {}, { dtype: 'float32', shape: h.shape });
      const d2 = emit('Unsqueeze', [dce, g.ints([1])], {}, { dtype: 'float32', shape: [M, 1] });
      return [emit('Mul', [diff, d2], {}, { dtype: 'float32', shape: h.shape, requiresGrad: true })];
    });
  }
  return { ce, hit, logits };
}

// ---- state-space ops: cumulative sums, linear and chunked scans, exact activations, depthwise convolution

/**
 * Cumulative sum along `axis` (ONNX CumSum): y_i = Σ_{j ≤ i} x_j, or Σ_{j < i} with `exclusive`, or summed from the
 * end with `reverse`. The VJP is the cumulative sum of the gradient in the other direction (same exclusivity).
 */
export function cumsum(x: Value, axis: number, opts: { exclusive?: boolean; reverse?: boolean } = {}): Value {
  const a = norm(axis, x.rank);
  const exclusive = opts.exclusive === true;
  const reverse = opts.reverse === true;
  const out = emit(
    'CumSum',
    [x, x.graph.scalar(a, 'int64')],
    { exclusive: { i: exclusive ? 1 : 0 }, reverse: { i: reverse ? 1 : 0 } },
    { dtype: x.dtype, shape: x.shape, requiresGrad: x.requiresGrad },
  );
  if (out.requiresGrad)
    x.graph.record([x], [out], ([g]) => [g ? cumsum(g, a, { exclusive, reverse: !reverse }) : null]);
  return out;
}

/**
 * The nodes of a first-order linear recurrence along a static axis, unrolled: h_t = a_t ⊙ h_{t−1} + b_t from h_{−1} = 0,
 * or, with `reverse`, the adjoint recurrence h_t = a_{t+1} ⊙ h_{t+1} + b_t from h_L = 0. One Split per input, one Mul
 * and one Add per step, one Concat: 2L + 1 nodes for L steps, each over all the other axes at once. No tape entry.
 */
function scanNodes(a: Value, b: Value, axis: number, reverse: boolean, requiresGrad: boolean): Value {
  const L = a.dim(axis);
  const piece = [...b.shape];
  piece[axis] = 1;
  const pieces = (x: Value) => splitNodes(x, axis, new Array(L).fill(1));
  if (L === 1) return emit('Identity', [b], {}, { dtype: b.dtype, shape: b.shape, requiresGrad });
  const as = pieces(a);
  const bs = pieces(b);
  const hs: Value[] = new Array(L);
  let prev: Value | null = null;
  for (let i = 0; i < L; i++) {
    const t = reverse ? L - 1 - i : i;
    const at = as[reverse ? t + 1 : t];
    hs[t] =
      prev === null
        ? bs[t]
        : emit(
            'Add',
            [emit('Mul', [at, prev], {}, { dtype: b.dtype, shape: piece }), bs[t]],
            {},
            { dtype: b.dtype, shape: piece },
          );
    prev = hs[t];
  }
  return emit('Concat', hs, { axis: { i: axis } }, { dtype: b.dtype, shape: b.shape, requiresGrad });
}

/**
 * First-order linear recurrence along `axis`, whose size must be static (a chunk of a chunked scan):
 *   h_t = a_t ⊙ h_{t−1} + b_t,  h_{−1} = 0,
 * for a and b of the same shape. Unrolled into 2L + 1 nodes over whole slices, not a
 * graph per element. VJP, with G_t = dL/dh_t in total (the adjoint recurrence run from the end):
 *   G_t = dh_t + a_{t+1} ⊙ G_{t+1},  db_t = G_t,  da_t = G_t ⊙ h_{t−1}.
 * It keeps a and the output h for the backward pass and nothing else.
 */
export function linearScan(a: Value, b: Value, axis: number): Value {
  const ax = norm(axis, a.rank);
  if (
    a.rank !== b.rank ||
    a.shape.some((s, i) => typeof s === 'number' && typeof b.shape[i] === 'number' && s !== b.shape[i])
  ) {
    throw new Error(`linearScan: a [${a.shape}] and b [${b.shape}] need the same shape`);
  }
  const L = a.dim(ax);
  const g = a.graph;
  const out = scanNodes(a, b, ax, false, anyGrad(a, b));
  if (out.requiresGrad) {
    g.record([a, b], [out], ([dh]) => {
      if (!dh) return [null, null];
      const G = scanNodes(a, dh, ax, true, false);
      let da: Value | null = null;
      if (a.requiresGrad) {
        // h shifted one step forward: h'_t = h_{t−1}, h'_0 = 0.
        const hPrev =
          L === 1
            ? zerosLike(out)
            : concat([zerosLike(slice(out, [0], [1], [ax])), slice(out, [0], [L - 1], [ax])], ax);
        da = mul(G, hPrev);
      }
      return [da, b.requiresGrad ? G : null];
    });
  }
  return out;
}

/**
 * The logistic function 1 / (1 + e^(−x)) built from Exp, accurate to a few ulp everywhere. ONNX Runtime's CPU Sigmoid
 * is a rational approximation whose relative error grows for x ≪ 0 (x = −8: 2e-4, −12: 6e-3, ≤ −20: exactly 0),
 * which a SiLU gate and a softplus gradient feel directly. x is clamped at −80 inside (σ(−80) ≈ 2e-35) so that
 * e^(−x) stays finite. VJP: g · σ(x)(1 − σ(x)) = g · e^(−x) · σ(x)², without the cancellation of 1 − σ(x).
 */
export function sigmoidExact(x: Value): Value {
  const g = x.graph;
  const f = (op: string, inputs: Value[]) => emit(op, inputs, {}, { dtype: x.dtype, shape: x.shape });
  const e = f('Exp', [f('Neg', [f('Max', [x, g.scalar(-80)])])]);
  const out = emit(
    'Reciprocal',
    [f('Add', [e, g.scalar(1)])],
    {},
    { dtype: x.dtype, shape: x.shape, requiresGrad: x.requiresGrad },
  );
  if (out.requiresGrad) g.record([x], [out], ([dy]) => [dy ? mul(dy, mul(e, mul(out, out))) : null]);
  return out;
}

/** SiLU x · σ(x) with the accurate logistic (sigmoidExact). */
export function siluExact(x: Value): Value {
  return mul(x, sigmoidExact(x));
}

/** Softplus as torch computes it (x above 20 passes through), with the accurate logistic in its VJP. */
export function softplusExact(x: Value): Value {
  const big = greater(x, x.graph.scalar(20));
  const soft = unary('Softplus', x, (g) => mul(g, sigmoidExact(x)));
  return where(big, x, soft);
}

/**
 * An int64 [1] zero computed from `dep` (1 if dep's first element is NaN). A VJP that remakes forward values instead
 * of keeping them feeds this into the remaking (x + 0, or a slice bound), so that ONNX Runtime cannot run the
 * remaking as soon as the forward values exist, which would keep its results alive for the whole backward pass and
 * save nothing: the remade values appear when the incoming gradient does.
 */
function zeroAfter(dep: Value): Value {
  const g = dep.graph;
  const first = emit(
    'Slice',
    [emit('Reshape', [dep, g.ints([-1])], {}, { dtype: dep.dtype, shape: [g.freshDim()] }), g.ints([0]), g.ints([1])],
    {},
    { dtype: dep.dtype, shape: [1] },
  );
  return emit(
    'Cast',
    [emit('IsNaN', [first], {}, { dtype: 'bool', shape: [1] })],
    { to: { i: 7 } },
    { dtype: 'int64', shape: [1] },
  );
}

/** x + 0, where the 0 is computed from `dep` (see zeroAfter): the same values, available only once dep is. */
function after(x: Value, dep: Value): Value {
  const zero = emit('Cast', [zeroAfter(dep)], { to: { i: 1 } }, { dtype: 'float32', shape: [1] });
  return emit('Add', [x, zero], {}, { dtype: x.dtype, shape: x.shape });
}

/**
 * Mamba's selective scan inside chunks of static length L, from a zero state, for inputs in factored form:
 *   h_t = exp(dt_t ⊗ A) ⊙ h_{t−1} + u_t ⊗ B_t,   h_{−1} = 0,
 * with dt, u [..., L, D, 1], B [..., L, 1, N] and a frozen A [D, N]; `axis` is the L axis (rank − 3). Returns h
 * [..., L, D, N] and, as its own output (so that its gradient needs no padding to h's size), the last step h_{L−1}
 * [..., 1, D, N]: the decays and inputs are made whole, split into steps, and the recurrence runs over whole slices
 * (2L + 6 nodes). The VJP keeps only h (not the decays or inputs, which it remakes from the small factors) and runs
 * the adjoint recurrence G_t = dh_t + a_{t+1} ⊙ G_{t+1}; then, over whole tensors,
 *   du = G · Bᵀ,  dB = uᵀ · G,  ddt_t = Σ_n G_t ⊙ h_{t−1} ⊙ a_t ⊙ A  (h_{−1} = 0).
 */
export function selectiveChunkScan(dt: Value, u: Value, B: Value, A: Value, axis: number): { h: Value; last: Value } {
  const g = dt.graph;
  const r = dt.rank;
  const ax = norm(axis, r);
  if (ax !== r - 3 || u.rank !== r || B.rank !== r || A.rank !== 2)
    throw new Error('selectiveChunkScan: dt, u [..., L, D, 1], B [..., L, 1, N], A [D, N], axis = rank − 3');
  if (A.requiresGrad) throw new Error('selectiveChunkScan: A is frozen');
  const L = dt.dim(ax);
  const [D, N] = [A.dim(0), A.dim(1)];
  const lead = dt.shape.slice(0, ax);
  const shape = [...lead, L, D, N];
  const f32 = (sh: (number | string)[]) => ({ dtype: 'float32' as DType, shape: sh });
  const piece = [...lead, 1, D, N];
  const split = (x: Value) => (L === 1 ? [x] : splitNodes(x, ax, new Array(L).fill(1)));
  const decays = (d: Value) => emit('Exp', [emit('Mul', [d, A], {}, f32(shape))], {}, f32(shape));
  const as = split(decays(dt));
  const bs = split(emit('Mul', [u, B], {}, f32(shape)));
  const hs: Value[] = [bs[0]];
  for (let t = 1; t < L; t++)
    hs.push(emit('Add', [emit('Mul', [as[t], hs[t - 1]], {}, f32(piece)), bs[t]], {}, f32(piece)));
  const requiresGrad = anyGrad(dt, u, B);
  const out = emit(L === 1 ? 'Identity' : 'Concat', hs, L === 1 ? {} : { axis: { i: ax } }, {
    ...f32(shape),
    requiresGrad,
  });
  const last = emit('Identity', [hs[L - 1]], {}, { ...f32(piece), requiresGrad });
  if (requiresGrad) {
    g.record([dt, u, B], [out, last], ([dhAll, dLast]) => {
      if (!dhAll && !dLast) return [null, null, null];
      const dh = dhAll ?? emit('Mul', [out, g.scalar(0)], {}, f32(shape));
      const swap = Array.from({ length: r }, (_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
      const T = (x: Value, sh: (number | string)[]) => emit('Transpose', [x], { perm: { ints: swap } }, f32(sh));
      const a = decays(after(dt, dh));
      const aNext = split(a);
      const dhs = split(dh);
      const Gs: Value[] = new Array(L);
      Gs[L - 1] = dLast ? emit('Add', [dhs[L - 1], dLast], {}, f32(piece)) : dhs[L - 1];
      for (let t = L - 2; t >= 0; t--)
        Gs[t] = emit('Add', [dhs[t], emit('Mul', [aNext[t + 1], Gs[t + 1]], {}, f32(piece))], {}, f32(piece));
      const G = L === 1 ? Gs[0] : emit('Concat', Gs, { axis: { i: ax } }, f32(shape));
      const du = u.requiresGrad ? emit('MatMul', [G, T(B, [...lead, L, N, 1])], {}, f32([...lead, L, D, 1])) : null;
      const dB = B.requiresGrad ? emit('MatMul', [T(u, [...lead, L, 1, D]), G], {}, f32([...lead, L, 1, N])) : null;
      let ddt: Value | null = null;
      if (dt.requiresGrad) {
        // h_{t−1}: h shifted one step along the chunk, zeros first.
        const pads = new Array(2 * r).fill(0);
        pads[ax] = 1;
        const zero = zeroAfter(G);
        const upTo = emit('Add', [zero, g.ints([L - 1])], {}, { dtype: 'int64', shape: [1] });
        const hPrev = emit(
          'Pad',
          [emit('Slice', [out, zero, upTo, g.ints([ax])], {}, f32([...lead, L - 1, D, N])), g.ints(pads)],
          {},
          f32(shape),
        );
        const term = emit(
          'Mul',
          [emit('Mul', [G, hPrev], {}, f32(shape)), emit('Mul', [a, A], {}, f32(shape))],
          {},
          f32(shape),
        );
        ddt = emit('ReduceSum', [term, g.ints([-1])], { keepdims: { i: 1 } }, f32([...lead, L, D, 1]));
      }
      return [ddt, du, dB];
    });
  }
  return { h: out, last };
}

/**
 * The readout of a chunked scan: y_t = (h_t + exp(s_t ⊗ A) ⊙ p) · C_t for the chunk-local states h [..., L, D, N],
 * Δ summed from the chunk start s [..., L, D, 1], a frozen A [D, N], the state entering the chunk p [..., 1, D, N] and
 * C [..., L, N, 1] → y [..., L, D, 1]. Nothing of h's size is kept for the backward pass beyond h itself: the VJP
 * remakes E = exp(s ⊗ A) and h + E ⊙ p, then with dH = dy · Cᵀ:
 *   dh = dH,  dp = Σ_t dH_t ⊙ E_t,  ds = Σ_n dH ⊙ E ⊙ p ⊙ A,  dC = (h + E ⊙ p)ᵀ · dy.
 */
export function ssmReadout(h: Value, s: Value, A: Value, p: Value, C: Value): Value {
  const g = h.graph;
  const r = h.rank;
  if (s.rank !== r || p.rank !== r || C.rank !== r || A.rank !== 2)
    throw new Error('ssmReadout: h [..., L, D, N], s [..., L, D, 1], p [..., 1, D, N], C [..., L, N, 1], A [D, N]');
  if (A.requiresGrad) throw new Error('ssmReadout: A is frozen');
  const lead = h.shape.slice(0, r - 3);
  const [L, D, N] = [h.dim(r - 3), A.dim(0), A.dim(1)];
  const f32 = (sh: (number | string)[]) => ({ dtype: 'float32' as DType, shape: sh });
  const full = [...lead, L, D, N];
  const total = (sum: Value) => {
    const E = emit('Exp', [emit('Mul', [sum, A], {}, f32(full))], {}, f32(full));
    const EP = emit('Mul', [E, p], {}, f32(full));
    return { E, EP, H: emit('Add', [h, EP], {}, f32(full)) };
  };
  const out = emit('MatMul', [total(s).H, C], {}, { ...f32([...lead, L, D, 1]), requiresGrad: anyGrad(h, s, p, C) });
  if (out.requiresGrad) {
    g.record([h, s, p, C], [out], ([dy]) => {
      if (!dy) return [null, null, null, null];
      const swap = Array.from({ length: r }, (_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
      const { E, EP, H } = total(after(s, dy));
      const dH = emit(
        'MatMul',
        [dy, emit('Transpose', [C], { perm: { ints: swap } }, f32([...lead, L, 1, N]))],
        {},
        f32(full),
      );
      const dp = p.requiresGrad
        ? emit(
            'ReduceSum',
            [emit('Mul', [dH, E], {}, f32(full)), g.ints([r - 3])],
            { keepdims: { i: 1 } },
            f32([...lead, 1, D, N]),
          )
        : null;
      const ds = s.requiresGrad
        ? emit(
            'ReduceSum',
            [emit('Mul', [emit('Mul', [dH, EP], {}, f32(full)), A], {}, f32(full)), g.ints([-1])],
            { keepdims: { i: 1 } },
            f32([...lead, L, D, 1]),
          )
        : null;
      const dC = C.requiresGrad
        ? emit(
            'Transpose',
            [
              emit(
                'MatMul',
                [emit('Transpose', [dy], { perm: { ints: swap } }, f32([...lead, L, 1, D])), H],
                {},
                f32([...lead, L, 1, N]),
              ),
            ],
            { perm: { ints: swap } },
            f32([...lead, L, N, 1]),
          )
        : null;
      return [h.requiresGrad ? dH : null, ds, dp, dC];
    });
  }
  return out;
}

/**
 * Depthwise 1-D convolution without padding (ONNX Conv, one group per channel):
 *   y[b, c, t] = Σ_k w[c, 0, k] · x[b, c, t + k] (+ bias[c]),
 * x [B, C, L], frozen w [C, 1, K] → y [B, C, L − K + 1] (`size` names that length when it is known). VJP: the full
 * convolution of dy with the reversed kernel (K − 1 zeros padded on both sides).
 */
export function depthwiseConv1d(x: Value, w: Value, bias: Value | null = null, size?: Dim): Value {
  if (x.rank !== 3 || w.rank !== 3 || w.dim(1) !== 1) throw new Error('depthwiseConv1d: x [B, C, L], w [C, 1, K]');
  if (w.requiresGrad || bias?.requiresGrad) throw new Error('depthwiseConv1d: the kernel and bias are frozen');
  const g = x.graph;
  const [C, K] = [w.dim(0), w.dim(2)];
  const len = x.shape[2];
  const outLen: Dim = size ?? (typeof len === 'number' ? len - K + 1 : g.freshDim());
  const attrs = { group: { i: C }, kernel_shape: { ints: [K] } };
  const out = emit('Conv', bias ? [x, w, bias] : [x, w], attrs, {
    dtype: 'float32',
    shape: [x.shape[0], C, outLen],
    requiresGrad: x.requiresGrad,
  });
  if (out.requiresGrad) {
    g.record([x], [out], ([dy]) => {
      if (!dy) return [null];
      const flipped = emit(
        'Gather',
        [w, g.ints(Array.from({ length: K }, (_, k) => K - 1 - k))],
        { axis: { i: 2 } },
        { dtype: 'float32', shape: [C, 1, K] },
      );
      return [
        emit('Conv', [dy, flipped], { ...attrs, pads: { ints: [K - 1, K - 1] } }, { dtype: 'float32', shape: x.shape }),
      ];
    });
  }
  return out;
}

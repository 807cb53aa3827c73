/**
 * Every differentiable op of src/engine/graph/ops.ts (and the model layers built from them) against central finite
 * differences, run in ONNX Runtime's CPU engine.
 *
 * Method, per case: a graph with one float32 input `x` (requiresGrad) and constant inputs computes y = op(x, ...), the
 * scalar loss L = Σ_k Σ(y_k · R_k) with fixed random weights R_k (inputs `r<k>`, so every output element matters), and
 * dL/dx through `gradients()`. The finite differences use the same session: the outputs y_k are read back and L is
 * summed in float64 here (no float32 reduction noise), with the five-point stencil
 * (−L(x+2hv) + 8L(x+hv) − 8L(x−hv) + L(x−2hv)) / 12h, along every coordinate for small x (≤ 64 elements) and
 * along the analytic gradient plus a few random unit directions for bigger ones. Each case also checks that the
 * symbolic shapes ops.ts infers agree with the shapes ONNX Runtime produces, that the gradient has x's shape, and that
 * 2× the gradient does NOT match (so a case whose gradient is zero or degenerate cannot pass by accident).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as OrtTypes from 'onnxruntime-node';
import { gradients } from '../../src/engine/graph/autodiff.ts';
import { Graph, type Dim, type Value } from '../../src/engine/graph/graph.ts';
import * as op from '../../src/engine/graph/ops.ts';
import { serialize } from '../../src/engine/graph/onnx.ts';
import { createSession } from '../../src/engine/runtime.ts';
import {
  activation,
  attention,
  layerNorm,
  mergeHeads,
  rmsNorm,
  rope,
  ropeTables,
  splitHeads,
} from '../../src/models/layers.ts';
import { Sequence } from '../../src/models/sequence.ts';
import { selectiveScan } from '../../src/models/ssm.ts';
import { rng, rt } from './setup.ts';

// ---------------------------------------------------------------- harness

const prod = (ds: number[]) => ds.reduce((p, q) => p * q, 1);

type Gen = (r: () => number, i: number) => number;
/** Uniform in [lo, hi). */
const uniform =
  (lo: number, hi: number): Gen =>
  (r) =>
    lo + (hi - lo) * r();
/** |v| in [lo, hi) with a random sign (away from a kink at 0). */
const awayFromZero =
  (lo: number, hi: number): Gen =>
  (r) =>
    (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r());

interface InputSpec {
  /** Symbolic shape declared in the graph. */
  shape: Dim[];
  /** Concrete dims fed at run time. */
  dims: number[];
  dtype?: 'float32' | 'int64';
  /** Explicit values, or a generator (default uniform in [−1, 1)). */
  data?: number[] | Gen;
}

interface Case {
  name: string;
  x: InputSpec;
  /** Constant (non-differentiable) inputs, by graph input name. */
  inputs?: Record<string, InputSpec>;
  build: (g: Graph, x: Value, c: Record<string, Value>) => Value | Value[];
  /** Finite-difference step (default 2e-2, for O(1) inputs). */
  h?: number;
  /** Largest error allowed, relative to the gradient's scale (default 1e-2). */
  tol?: number;
  /** Compare along random directions even when x is small. */
  directional?: boolean;
}

interface Comparison {
  mode: 'coordinates' | 'directions';
  /** analytic (the graph's gradient, or its projection on a direction) and numeric (finite differences) pairs. */
  pairs: { analytic: number; numeric: number; scale: number }[];
}

function values(spec: InputSpec, r: () => number): number[] {
  const n = prod(spec.dims);
  if (Array.isArray(spec.data)) {
    assert.equal(spec.data.length, n, 'input data length');
    return spec.data;
  }
  const gen = spec.data ?? uniform(-1, 1);
  return Array.from({ length: n }, (_, i) => gen(r, i));
}

/** Builds the case into `g`: inputs declared, ys returned. */
function declare(g: Graph, c: Case): { x: Value; ys: Value[] } {
  const x = g.input('x', 'float32', c.x.shape, { requiresGrad: true });
  const consts: Record<string, Value> = {};
  for (const [name, spec] of Object.entries(c.inputs ?? {}))
    consts[name] = g.input(name, spec.dtype ?? 'float32', spec.shape);
  const y = c.build(g, x, consts);
  return { x, ys: Array.isArray(y) ? y : [y] };
}

async function gradCheck(c: Case): Promise<Comparison> {
  const r = await rt();
  const ort = r.ort;
  const rand = rng(c.name);
  const n = prod(c.x.dims);
  const x0 = Float64Array.from(values(c.x, rand));
  const f32 = (v: ArrayLike<number>, dims: number[]) => new ort.Tensor('float32', Float32Array.from(v), dims);
  const constFeeds: Record<string, OrtTypes.Tensor> = {};
  for (const [name, spec] of Object.entries(c.inputs ?? {})) {
    const v = values(spec, rand);
    constFeeds[name] =
      spec.dtype === 'int64'
        ? new ort.Tensor('int64', BigInt64Array.from(v.map((q) => BigInt(q))), spec.dims)
        : f32(v, spec.dims);
  }

  // 1. Forward only: the concrete output shapes, checked against the symbolic ones ops.ts inferred.
  const fg = new Graph('forward');
  const fwd = declare(fg, c);
  fwd.ys.forEach((y, k) => fg.output(y, `y${k}`));
  const fs = await createSession(r, serialize(fg), null);
  const fo = await fs.run({ x: f32(x0, c.x.dims), ...constFeeds });
  await fs.release();
  const yDims = fwd.ys.map((_, k) => fo[`y${k}`].dims.map(Number));
  fwd.ys.forEach((y, k) => {
    assert.equal(
      y.rank,
      yDims[k].length,
      `output ${k}: inferred rank ${y.rank} [${y.shape}], ONNX Runtime gives [${yDims[k]}]`,
    );
    y.shape.forEach((s, i) => {
      if (typeof s === 'number')
        assert.equal(s, yDims[k][i], `output ${k}: inferred shape [${y.shape}], ONNX Runtime gives [${yDims[k]}]`);
    });
  });
  const R = yDims.map((d) => Float64Array.from({ length: prod(d) }, () => 2 * rand() - 1));

  // 2. The gradient graph: y, L = Σ y·R and dL/dx.
  const g = new Graph('vjp');
  const { x, ys } = declare(g, c);
  let L: Value | null = null;
  ys.forEach((y, k) => {
    const w = g.input(`r${k}`, 'float32', y.shape);
    const t = op.mul(y, w);
    const s =
      t.rank > 0
        ? op.reduceSum(
            t,
            Array.from({ length: t.rank }, (_, i) => i),
            false,
          )
        : t;
    L = L ? op.add(L, s) : s;
  });
  const [dx] = gradients([L!], [g.scalar(1)], [x]);
  ys.forEach((y, k) => g.output(y, `y${k}`));
  g.output(L!, 'L');
  g.output(dx, 'dx');
  assert.deepEqual(dx.shape, x.shape, `the gradient's inferred shape [${dx.shape}] is not x's [${x.shape}]`);
  const session = await createSession(r, serialize(g), null);
  const feeds: Record<string, OrtTypes.Tensor> = { ...constFeeds };
  R.forEach((w, k) => (feeds[`r${k}`] = f32(w, yDims[k])));
  const run = (xv: ArrayLike<number>) => session.run({ ...feeds, x: f32(xv, c.x.dims) });
  /** L in float64 from the float32 outputs. */
  const loss = (out: OrtTypes.InferenceSession.ReturnType) => {
    let s = 0;
    R.forEach((w, k) => {
      const y = out[`y${k}`].data as Float32Array;
      for (let i = 0; i < w.length; i++) s += y[i] * w[i];
    });
    return s;
  };

  const base = await run(x0);
  assert.deepEqual(base.dx.dims.map(Number), c.x.dims, `gradient dims [${base.dx.dims}], x dims [${c.x.dims}]`);
  const grad = Float64Array.from(base.dx.data as Float32Array);
  const lJs = loss(base);
  const lGraph = (base.L.data as Float32Array)[0];
  assert.ok(Math.abs(lJs - lGraph) <= 1e-4 * (1 + Math.abs(lJs)), `L in the graph ${lGraph}, in float64 ${lJs}`);
  assert.ok(grad.every(Number.isFinite), `non-finite gradient ${Array.from(grad)}`);

  const h = c.h ?? 2e-2;
  const along = async (dir: Float64Array) => {
    const at = async (t: number) => loss(await run(x0.map((v, i) => v + t * dir[i])));
    return (-(await at(2 * h)) + 8 * (await at(h)) - 8 * (await at(-h)) + (await at(-2 * h))) / (12 * h);
  };

  const pairs: Comparison['pairs'] = [];
  let mode: Comparison['mode'];
  if (n <= 64 && !c.directional) {
    mode = 'coordinates';
    const numeric: number[] = [];
    for (let i = 0; i < n; i++) {
      const e = new Float64Array(n);
      e[i] = 1;
      numeric.push(await along(e));
    }
    const scale = Math.max(1e-6, ...grad.map(Math.abs), ...numeric.map(Math.abs));
    for (let i = 0; i < n; i++) pairs.push({ analytic: grad[i], numeric: numeric[i], scale });
  } else {
    mode = 'directions';
    const gNorm = Math.hypot(...grad);
    const dirs = [grad.map((v) => v / (gNorm || 1))];
    for (let k = 0; k < 3; k++) {
      const v = Float64Array.from({ length: n }, () => rand() - 0.5);
      const norm = Math.hypot(...v);
      dirs.push(v.map((q) => q / norm));
    }
    for (const v of dirs) {
      const analytic = grad.reduce((s, q, i) => s + q * v[i], 0);
      const numeric = await along(v);
      // A random direction's projection can be small; the floor keeps the test from demanding more than float32 gives.
      pairs.push({ analytic, numeric, scale: Math.max(1e-6, Math.abs(analytic), Math.abs(numeric), 0.05 * gNorm) });
    }
  }
  await session.release();
  return { mode, pairs };
}

/** The worst error of `factor` × the analytic gradient against the finite differences, relative to the scale. */
function worst(cmp: Comparison, factor = 1): { err: number; at: number } {
  let err = 0;
  let at = -1;
  cmp.pairs.forEach((p, i) => {
    const e = Math.abs(factor * p.analytic - p.numeric) / p.scale;
    if (e > err || at < 0) {
      err = e;
      at = i;
    }
  });
  return { err, at };
}

function describe(cmp: Comparison, at: number): string {
  const show = (v: number) => v.toPrecision(6);
  const p = cmp.pairs[at];
  const head = cmp.pairs
    .slice(0, 12)
    .map((q) => `${show(q.analytic)}/${show(q.numeric)}`)
    .join(' ');
  return `${cmp.mode}: worst at ${at}: analytic ${show(p.analytic)}, finite differences ${show(p.numeric)} (scale ${show(p.scale)}); analytic/numeric: ${head}${cmp.pairs.length > 12 ? ' …' : ''}`;
}

function vjpTest(c: Case): void {
  test(c.name, async () => {
    const cmp = await gradCheck(c);
    const tol = c.tol ?? 1e-2;
    const { err, at } = worst(cmp);
    assert.ok(
      err < tol,
      `gradient does not match finite differences (error ${err.toPrecision(3)} ≥ ${tol}); ${describe(cmp, at)}`,
    );
    // The check must be able to fail: 2× the gradient must not match (a zero gradient would).
    assert.ok(
      worst(cmp, 2).err > 10 * tol,
      `2× the gradient also matches: the case cannot detect a wrong VJP; ${describe(cmp, at)}`,
    );
  });
}

// ---------------------------------------------------------------- the harness can fail

test('harness sanity: a correct gradient passes, 2×, −1× and 0.5× of it do not', async () => {
  const cmp = await gradCheck({
    name: 'sanity-mul',
    x: { shape: [2, 3], dims: [2, 3] },
    inputs: { c: { shape: [2, 3], dims: [2, 3] } },
    build: (_, x, c) => op.mul(x, c.c),
  });
  assert.ok(worst(cmp).err < 1e-2, describe(cmp, worst(cmp).at));
  for (const f of [2, -1, 0.5, 1.05])
    assert.ok(worst(cmp, f).err > 3e-2, `factor ${f} matched: ${describe(cmp, worst(cmp, f).at)}`);
});

test('harness sanity: a deliberately broken VJP (square with dy·x, missing the factor 2) is caught', async () => {
  const cmp = await gradCheck({
    name: 'sanity-broken-square',
    x: { shape: [3, 2], dims: [3, 2] },
    build: (g, x) => {
      const [out] = g.node('Mul', [x, x], {}, [{ dtype: 'float32', shape: x.shape, requiresGrad: true }]);
      g.record([x], [out], ([dy]) => [dy ? op.mul(dy, x) : null]);
      return out;
    },
  });
  assert.ok(worst(cmp).err > 0.3, `the broken VJP passed: ${describe(cmp, worst(cmp).at)}`);
  assert.ok(
    worst(cmp, 2).err < 1e-2,
    `2× the broken gradient should be the true one: ${describe(cmp, worst(cmp, 2).at)}`,
  );
});

test('harness sanity: a deliberately broken broadcast VJP (no reduction) is caught', async () => {
  await assert.rejects(
    gradCheck({
      name: 'sanity-broken-broadcast',
      x: { shape: [3], dims: [3] },
      inputs: { c: { shape: [2, 3], dims: [2, 3] } },
      build: (g, x, c) => {
        const [out] = g.node('Add', [c.c, x], {}, [{ dtype: 'float32', shape: [2, 3], requiresGrad: true }]);
        g.record([x], [out], ([dy]) => [dy]);
        return out;
      },
    }),
  );
});

test('harness sanity: a deliberately broken VJP with the wrong sign (sub) is caught', async () => {
  const cmp = await gradCheck({
    name: 'sanity-broken-sub',
    x: { shape: [4], dims: [4] },
    inputs: { c: { shape: [4], dims: [4] } },
    build: (g, x, c) => {
      const [out] = g.node('Sub', [c.c, x], {}, [{ dtype: 'float32', shape: x.shape, requiresGrad: true }]);
      g.record([x], [out], ([dy]) => [dy]);
      return out;
    },
  });
  assert.ok(worst(cmp).err > 1, `the broken VJP passed: ${describe(cmp, worst(cmp).at)}`);
});

// ---------------------------------------------------------------- elementwise binary, with broadcasting

const m23 = (name = 'c'): Record<string, InputSpec> => ({ [name]: { shape: [2, 3], dims: [2, 3] } });
const BINARY: [string, (a: Value, b: Value) => Value][] = [
  ['add', op.add],
  ['sub', op.sub],
  ['mul', op.mul],
  ['div', op.div],
];
for (const [name, f] of BINARY) {
  // Denominators stay away from 0.
  const den = name === 'div' ? awayFromZero(0.5, 2) : undefined;
  vjpTest({
    name: `${name}: x ∘ c, same shape`,
    x: { shape: [2, 3], dims: [2, 3] },
    inputs: { c: { shape: [2, 3], dims: [2, 3], data: den } },
    build: (_, x, c) => f(x, c.c),
  });
  vjpTest({
    name: `${name}: c ∘ x, same shape`,
    x: { shape: [2, 3], dims: [2, 3], data: den },
    inputs: m23(),
    build: (_, x, c) => f(c.c, x),
  });
  vjpTest({
    name: `${name}: x [2,1,4] ∘ c [3,1] (both broadcast)`,
    x: { shape: [2, 1, 4], dims: [2, 1, 4] },
    inputs: { c: { shape: [3, 1], dims: [3, 1], data: den } },
    build: (_, x, c) => f(x, c.c),
  });
  vjpTest({
    name: `${name}: c [2,1,4] ∘ x [3,1] (x rank-lower, both broadcast)`,
    x: { shape: [3, 1], dims: [3, 1], data: den },
    inputs: { c: { shape: [2, 1, 4], dims: [2, 1, 4] } },
    build: (_, x, c) => f(c.c, x),
  });
  vjpTest({
    name: `${name}: x [B,3] ∘ c [3] (rank-lower constant)`,
    x: { shape: ['B', 3], dims: [2, 3] },
    inputs: { c: { shape: [3], dims: [3], data: den } },
    build: (_, x, c) => f(x, c.c),
  });
  vjpTest({
    name: `${name}: c [B,T,3] ∘ x [1,3] (x broadcast over a static 1 and a missing axis)`,
    x: { shape: [1, 3], dims: [1, 3], data: den },
    inputs: { c: { shape: ['B', 'T', 3], dims: [2, 2, 3] } },
    build: (_, x, c) => f(c.c, x),
  });
  vjpTest({
    name: `${name}: c [2,3] ∘ x [] (scalar x)`,
    x: { shape: [], dims: [], data: den },
    inputs: m23(),
    build: (_, x, c) => f(c.c, x),
  });
}
test("unbroadcast refuses a dynamic dim it cannot prove equal to the gradient's (instead of a silently wrong gradient)", () => {
  const g = new Graph('ambiguous');
  const x = g.input('x', 'float32', ['B', 3], { requiresGrad: true });
  const c = g.input('c', 'float32', [4, 3]);
  const y = op.add(x, c);
  assert.throws(() => gradients([op.reduceSum(y, [0, 1], false)], [g.scalar(1)], [x]), /dynamic dim "B".*broadcast/);
});
vjpTest({
  name: 'mul: x · x (both operands, gradients accumulate)',
  x: { shape: [2, 3], dims: [2, 3] },
  build: (_, x) => op.mul(x, x),
});
vjpTest({
  name: 'mul: x [2,3] · reduceSum(x) [2,1] (both operands, one broadcast)',
  x: { shape: [2, 3], dims: [2, 3] },
  build: (_, x) => op.mul(x, op.reduceSum(x, [1], true)),
});
vjpTest({
  name: 'div: x / (x² + 1) (both operands)',
  x: { shape: [2, 3], dims: [2, 3] },
  build: (_, x) => op.div(x, op.addScalar(op.mul(x, x), 1)),
});
vjpTest({
  name: 'sub: x − reduceMean(x) [2,1] (both operands, one broadcast)',
  x: { shape: [2, 3], dims: [2, 3] },
  build: (_, x) => op.sub(x, op.reduceMean(x, [1], true)),
});

// ---------------------------------------------------------------- elementwise unary

const x34 = (data?: Gen): InputSpec => ({ shape: [3, 4], dims: [3, 4], data });
vjpTest({ name: 'powScalar p=2', x: x34(uniform(-1.5, 1.5)), build: (_, x) => op.powScalar(x, 2) });
vjpTest({ name: 'powScalar p=3', x: x34(uniform(-1.5, 1.5)), build: (_, x) => op.powScalar(x, 3) });
vjpTest({ name: 'powScalar p=1.5 (x > 0)', x: x34(uniform(0.5, 2)), build: (_, x) => op.powScalar(x, 1.5) });
vjpTest({ name: 'powScalar p=−1 (x > 0)', x: x34(uniform(0.5, 2)), build: (_, x) => op.powScalar(x, -1) });
vjpTest({ name: 'scale', x: x34(), build: (_, x) => op.scale(x, -2.5) });
vjpTest({ name: 'addScalar', x: x34(), build: (_, x) => op.mul(op.addScalar(x, 0.75), op.addScalar(x, 0.75)) });
vjpTest({ name: 'neg', x: x34(), build: (_, x) => op.neg(x) });
vjpTest({ name: 'exp', x: x34(uniform(-1.5, 1.5)), build: (_, x) => op.exp(x) });
vjpTest({ name: 'log', x: x34(uniform(0.5, 2)), build: (_, x) => op.log(x) });
vjpTest({ name: 'sqrt', x: x34(uniform(0.5, 2)), build: (_, x) => op.sqrt(x) });
vjpTest({ name: 'reciprocal', x: x34(awayFromZero(0.5, 2)), build: (_, x) => op.reciprocal(x) });
vjpTest({ name: 'tanh', x: x34(uniform(-2, 2)), build: (_, x) => op.tanh(x) });
vjpTest({ name: 'sigmoid', x: x34(uniform(-3, 3)), build: (_, x) => op.sigmoid(x) });
vjpTest({ name: 'erf', x: x34(uniform(-2, 2)), build: (_, x) => op.erf(x) });
vjpTest({ name: 'relu (away from 0)', x: x34(awayFromZero(0.2, 1.5)), build: (_, x) => op.relu(x) });
vjpTest({ name: 'softplus (−4..4)', x: x34(uniform(-4, 4)), build: (_, x) => op.softplus(x) });
vjpTest({
  name: 'softplus around 20 (both branches)',
  x: x34((r) => 20 + (r() < 0.5 ? -1 : 1) * (0.15 + 2 * r())),
  h: 2e-2,
  build: (_, x) => op.softplus(x),
});
vjpTest({
  name: 'softplus far above and below 20',
  x: x34((r, i) => (i % 2 ? 25 + 5 * r() : -10 + 5 * r())),
  build: (_, x) => op.softplus(x),
});
// Values on a 1/64 grid and a step of 1/4: x, x ± h, x ± 2h are exact in float16, so the differences are exact.
vjpTest({
  name: 'cast float32 → float16 → float32',
  x: x34((r) => Math.round((2 * r() - 1) * 64) / 64),
  h: 0.25,
  build: (_, x) => op.cast(op.cast(x, 'float16'), 'float32'),
});
vjpTest({
  name: 'cast float32 → float32 is the identity',
  x: x34(),
  build: (_, x) => op.mul(op.cast(x, 'float32'), x),
});

// ---------------------------------------------------------------- matrix products

vjpTest({
  name: 'matmul: x [3,4] · c [4,5]',
  x: { shape: [3, 4], dims: [3, 4] },
  inputs: { c: { shape: [4, 5], dims: [4, 5] } },
  build: (_, x, c) => op.matmul(x, c.c),
});
vjpTest({
  name: 'matmul: c [3,4] · x [4,5]',
  x: { shape: [4, 5], dims: [4, 5] },
  inputs: { c: { shape: [3, 4], dims: [3, 4] } },
  build: (_, x, c) => op.matmul(c.c, x),
});
vjpTest({
  name: 'matmul: x · xᵀ (both operands)',
  x: { shape: [3, 4], dims: [3, 4] },
  build: (_, x) => op.matmul(x, op.transpose(x, [1, 0])),
});
vjpTest({
  name: 'matmul batched: x [2,3,4] · c [2,4,5]',
  x: { shape: [2, 3, 4], dims: [2, 3, 4] },
  inputs: { c: { shape: [2, 4, 5], dims: [2, 4, 5] } },
  build: (_, x, c) => op.matmul(x, c.c),
});
vjpTest({
  name: 'matmul batched: c [B,3,4] · x [B,4,2]',
  x: { shape: ['B', 4, 2], dims: [2, 4, 2] },
  inputs: { c: { shape: ['B', 3, 4], dims: [2, 3, 4] } },
  build: (_, x, c) => op.matmul(c.c, x),
});
vjpTest({
  name: 'matmul rank-lower: x [3,4] · c [2,4,5]',
  x: { shape: [3, 4], dims: [3, 4] },
  inputs: { c: { shape: [2, 4, 5], dims: [2, 4, 5] } },
  build: (_, x, c) => op.matmul(x, c.c),
});
vjpTest({
  name: 'matmul rank-lower: c [2,3,4] · x [4,5]',
  x: { shape: [4, 5], dims: [4, 5] },
  inputs: { c: { shape: [2, 3, 4], dims: [2, 3, 4] } },
  build: (_, x, c) => op.matmul(c.c, x),
});
vjpTest({
  name: 'matmul batch broadcast: x [2,1,3,4] · c [1,2,4,2]',
  x: { shape: [2, 1, 3, 4], dims: [2, 1, 3, 4] },
  inputs: { c: { shape: [1, 2, 4, 2], dims: [1, 2, 4, 2] } },
  build: (_, x, c) => op.matmul(x, c.c),
});
// Grouped-query attention: [B, Hkv, rep, T, D] × [B, Hkv, 1, D, T].
vjpTest({
  name: 'matmul GQA: q [B,Hkv,rep,T,D] · x [B,Hkv,1,D,T] (x broadcast over rep)',
  x: { shape: ['B', 2, 1, 2, 'T'], dims: [2, 2, 1, 2, 3] },
  inputs: { q: { shape: ['B', 2, 2, 'T', 2], dims: [2, 2, 2, 3, 2] } },
  build: (_, x, c) => op.matmul(c.q, x),
});
vjpTest({
  name: 'matmul GQA: x [B,Hkv,rep,T,D] · k [B,Hkv,1,D,T]',
  x: { shape: ['B', 2, 2, 'T', 2], dims: [1, 2, 2, 3, 2] },
  inputs: { k: { shape: ['B', 2, 1, 2, 'T'], dims: [1, 2, 1, 2, 3] } },
  build: (_, x, c) => op.matmul(x, c.k),
});
vjpTest({
  name: 'matmul GQA: p [B,Hkv,rep,T,T] · x [B,Hkv,1,T,D] (the value product)',
  x: { shape: ['B', 2, 1, 'T', 2], dims: [1, 2, 1, 3, 2] },
  inputs: { p: { shape: ['B', 2, 2, 'T', 'T'], dims: [1, 2, 2, 3, 3] } },
  build: (_, x, c) => op.matmul(c.p, x),
});

const W54 = Array.from({ length: 20 }, (_, i) => Math.sin(1.3 * i + 0.2));
vjpTest({
  name: 'linear2d: x [M,4] · Wᵀ, W [5,4] constant',
  x: { shape: ['M', 4], dims: [3, 4] },
  build: (g, x) => op.linear2d(x, g.floats(W54, [5, 4])),
});
vjpTest({
  name: 'linear2d: with bias',
  x: { shape: [3, 4], dims: [3, 4] },
  build: (g, x) => op.linear2d(x, g.floats(W54, [5, 4]), g.floats([0.1, -0.2, 0.3, 0.4, -0.5])),
});
vjpTest({
  name: 'linear2d transposed: x [3,4] · W, W [4,5] constant',
  x: { shape: [3, 4], dims: [3, 4] },
  build: (g, x) => op.linear2d(x, g.floats(W54, [4, 5]), g.floats([0.1, -0.2, 0.3, 0.4, -0.5]), true),
});
vjpTest({
  name: 'linear2d: weight as a graph input',
  x: { shape: [3, 4], dims: [3, 4] },
  inputs: { w: { shape: [2, 4], dims: [2, 4] } },
  build: (_, x, c) => op.linear2d(x, c.w),
});

// ---------------------------------------------------------------- layout

const x234: InputSpec = { shape: [2, 3, 4], dims: [2, 3, 4] };
const xB34: InputSpec = { shape: ['B', 3, 4], dims: [2, 3, 4] };
vjpTest({ name: 'transpose [2,0,1]', x: x234, build: (_, x) => op.transpose(x, [2, 0, 1]) });
vjpTest({ name: 'transpose [0,2,1] of [B,3,4]', x: xB34, build: (_, x) => op.transpose(x, [0, 2, 1]) });
vjpTest({ name: 'reshape [0,-1]', x: x234, build: (_, x) => op.reshape(x, [0, -1]) });
vjpTest({ name: 'reshape [-1,2,0]', x: x234, build: (_, x) => op.reshape(x, [-1, 2, 0]) });
vjpTest({ name: 'reshape [6,4]', x: x234, build: (_, x) => op.reshape(x, [6, 4]) });
vjpTest({ name: 'reshape [0,-1] of [B,3,4] (dynamic result)', x: xB34, build: (_, x) => op.reshape(x, [0, -1]) });
vjpTest({
  name: 'reshape to a shape value',
  x: xB34,
  build: (g, x) => op.reshape(x, { value: op.concat([op.dimOf(x, 0), g.ints([2, 6])], 0), shape: ['B', 2, 6] }),
});
vjpTest({ name: 'unsqueeze [0]', x: { shape: [2, 3], dims: [2, 3] }, build: (_, x) => op.unsqueeze(x, [0]) });
vjpTest({ name: 'unsqueeze [-1, 0]', x: { shape: [2, 3], dims: [2, 3] }, build: (_, x) => op.unsqueeze(x, [-1, 0]) });
vjpTest({ name: 'squeeze [1]', x: { shape: [2, 1, 3], dims: [2, 1, 3] }, build: (_, x) => op.squeeze(x, [1]) });
vjpTest({
  name: 'squeeze [-1, 1]',
  x: { shape: [2, 1, 3, 1], dims: [2, 1, 3, 1] },
  build: (_, x) => op.squeeze(x, [-1, 1]),
});
vjpTest({
  name: 'expand [3,1] → [2,3,4]',
  x: { shape: [3, 1], dims: [3, 1] },
  build: (g, x) => op.expand(x, g.ints([2, 3, 4]), [2, 3, 4]),
});
vjpTest({
  name: 'expand [1,4] → [N,4] (dynamic)',
  x: { shape: [1, 4], dims: [1, 4] },
  inputs: { c: { shape: ['N', 4], dims: [3, 4] } },
  build: (_, x, c) => op.mul(op.expand(x, op.shapeOf(c.c), c.c.shape), c.c),
});
vjpTest({
  name: 'concat static: [x, c] axis 1',
  x: { shape: [2, 3], dims: [2, 3] },
  inputs: { c: { shape: [2, 2], dims: [2, 2] } },
  build: (_, x, c) => op.concat([x, c.c], 1),
});
vjpTest({
  name: 'concat static: [c, x, c] axis 0',
  x: { shape: [1, 3], dims: [1, 3] },
  inputs: m23(),
  build: (_, x, c) => op.concat([c.c, x, c.c], 0),
});
vjpTest({
  name: 'concat static: [x, 2x] axis −1 (x twice)',
  x: { shape: [2, 3], dims: [2, 3] },
  build: (_, x) => op.concat([x, op.scale(x, 2)], -1),
});
vjpTest({
  name: 'concat dynamic: [x [2,N], c [2,3]] axis 1',
  x: { shape: [2, 'N'], dims: [2, 2] },
  inputs: { c: { shape: [2, 3], dims: [2, 3] } },
  build: (_, x, c) => op.concat([x, c.c], 1),
});
vjpTest({
  name: 'concat dynamic: [c [2,N], x [2,3], x²] axis 1 (offsets from Shape)',
  x: { shape: [2, 3], dims: [2, 3] },
  inputs: { c: { shape: [2, 'N'], dims: [2, 2] } },
  build: (_, x, c) => op.concat([c.c, x, op.mul(x, x)], 1),
});
vjpTest({
  name: 'concat dynamic: [mem [B,2,4], tokens [B,N,4]] axis 1 (the objective)',
  x: { shape: ['B', 2, 4], dims: [2, 2, 4] },
  inputs: { c: { shape: ['B', 'N', 4], dims: [2, 3, 4] } },
  build: (_, x, c) => op.concat([x, c.c], 1),
});
vjpTest({
  name: 'split [1,2,3] axis 1, all outputs',
  x: { shape: [2, 6], dims: [2, 6] },
  build: (_, x) => op.split(x, 1, [1, 2, 3]),
});
vjpTest({
  name: 'split [2,2] axis −1, one output unused',
  x: { shape: [3, 4], dims: [3, 4] },
  build: (_, x) => {
    const [a] = op.split(x, -1, [2, 2]);
    return op.mul(a, a);
  },
});
vjpTest({
  name: 'split axis 0 of [B... static], outputs recombined',
  x: { shape: [4, 3], dims: [4, 3] },
  build: (_, x) => {
    const [a, b] = op.split(x, 0, [1, 3]);
    return op.mul(a, b);
  },
});
vjpTest({
  name: 'slice static [1:3] axis 0',
  x: { shape: [4, 5], dims: [4, 5] },
  build: (_, x) => op.slice(x, [1], [3], [0]),
});
vjpTest({
  name: 'slice static, two axes',
  x: { shape: [4, 5], dims: [4, 5] },
  build: (_, x) => op.slice(x, [1, 2], [3, 5], [0, 1]),
});
vjpTest({
  name: 'slice static, end past the dim (2^62)',
  x: { shape: [4, 5], dims: [4, 5] },
  build: (_, x) => op.slice(x, [2], [2 ** 62], [1]),
});
vjpTest({
  name: 'slice static, negative end',
  x: { shape: [4, 5], dims: [4, 5] },
  build: (_, x) => op.slice(x, [0], [-1], [-1]),
});
vjpTest({
  name: 'slice static, negative start [−2:]',
  x: { shape: [4, 5], dims: [4, 5] },
  build: (_, x) => op.slice(x, [-2], [2 ** 62], [1]),
});
vjpTest({
  name: 'slice shape inference: static end past a dynamic dim [0:5] of T = 3',
  x: { shape: [2, 'T'], dims: [2, 3] },
  build: (_, x) => op.slice(x, [0], [5], [1]),
});
vjpTest({
  name: 'slice, end given as an int64 input',
  x: { shape: [4, 5], dims: [4, 5] },
  inputs: { n: { shape: [1], dims: [1], dtype: 'int64', data: [3] } },
  build: (_, x, c) => op.slice(x, [1], [c.n], [1]),
});
vjpTest({
  name: 'slice, start given as an int64 input',
  x: { shape: [4, 5], dims: [4, 5] },
  inputs: { n: { shape: [1], dims: [1], dtype: 'int64', data: [2] } },
  build: (_, x, c) => op.slice(x, [c.n], [4], [0]),
});
vjpTest({
  name: 'slice, bounds from Shape on a dynamic axis (the objective: [K : N−1+K])',
  x: { shape: ['B', 'S', 3], dims: [2, 5, 3] },
  inputs: { ids: { shape: ['B', 'N'], dims: [2, 3], dtype: 'int64', data: [1, 2, 3, 4, 5, 6] } },
  build: (g, x, c) => {
    const P = op.sub(op.dimOf(c.ids, 1), g.ints([1]));
    return op.slice(x, [2], [op.add(P, g.ints([2]))], [1], 'P');
  },
});

// ---------------------------------------------------------------- selection, reductions, softmax

vjpTest({
  name: 'where(c > 0, x, d)',
  x: { shape: [2, 3], dims: [2, 3] },
  inputs: { ...m23(), ...m23('d') },
  build: (g, x, c) => op.where(op.greater(c.c, g.scalar(0)), x, c.d),
});
vjpTest({
  name: 'where(c > 0, d, x)',
  x: { shape: [2, 3], dims: [2, 3] },
  inputs: { ...m23(), ...m23('d') },
  build: (g, x, c) => op.where(op.greater(c.c, g.scalar(0)), c.d, x),
});
vjpTest({
  name: 'where(c [2,3] > 0, x [3], 0) (x broadcast)',
  x: { shape: [3], dims: [3] },
  inputs: m23(),
  build: (g, x, c) => op.where(op.greater(c.c, g.scalar(0)), x, g.scalar(0)),
});
vjpTest({
  name: 'where(c > 0, x, −x) (both branches)',
  x: { shape: [2, 3], dims: [2, 3] },
  inputs: m23(),
  build: (g, x, c) => op.where(op.greater(c.c, g.scalar(0)), x, op.scale(x, -3)),
});
for (const [name, f] of [
  ['reduceSum', op.reduceSum],
  ['reduceMean', op.reduceMean],
] as const) {
  vjpTest({ name: `${name} axes [1] keepdims`, x: x234, build: (_, x) => f(x, [1], true) });
  vjpTest({ name: `${name} axes [1] no keepdims`, x: x234, build: (_, x) => f(x, [1], false) });
  vjpTest({ name: `${name} axes [0,2] keepdims`, x: x234, build: (_, x) => f(x, [0, 2], true) });
  vjpTest({ name: `${name} axes [2,0] no keepdims`, x: x234, build: (_, x) => f(x, [2, 0], false) });
  vjpTest({ name: `${name} axes [-1] no keepdims, dynamic batch`, x: xB34, build: (_, x) => f(x, [-1], false) });
  vjpTest({
    name: `${name} all axes → scalar`,
    x: x234,
    build: (_, x) => op.mul(f(x, [0, 1, 2], false), f(x, [0, 1, 2], false)),
  });
}
vjpTest({
  name: 'softmax [2,5]',
  x: { shape: [2, 5], dims: [2, 5], data: uniform(-2, 2) },
  build: (_, x) => op.softmax(x),
});
vjpTest({ name: 'softmax [B,3,4]', x: { ...xB34, data: uniform(-2, 2) }, build: (_, x) => op.softmax(op.scale(x, 2)) });
vjpTest({
  name: 'crossEntropy ce, targets an int64 input',
  x: { shape: [4, 6], dims: [4, 6], data: uniform(-2, 2) },
  inputs: { t: { shape: [4], dims: [4], dtype: 'int64', data: [0, 5, 2, 3] } },
  build: (_, x, c) => op.crossEntropy(x, c.t).ce,
});
vjpTest({
  name: 'crossEntropy ce on [M,V] with dynamic M, repeated targets',
  x: { shape: ['M', 5], dims: [3, 5], data: uniform(-3, 3) },
  inputs: { t: { shape: ['M'], dims: [3], dtype: 'int64', data: [1, 1, 4] } },
  build: (_, x, c) => op.crossEntropy(x, c.t).ce,
});
vjpTest({
  name: 'crossEntropy ce of a linear map of x (as in the objective)',
  x: { shape: ['M', 4], dims: [3, 4] },
  inputs: { t: { shape: ['M'], dims: [3], dtype: 'int64', data: [0, 4, 2] } },
  build: (g, x, c) =>
    op.crossEntropy(
      op.linear2d(
        x,
        g.floats(
          W54.map((v) => 2 * v),
          [5, 4],
        ),
      ),
      c.t,
    ).ce,
});

// ---------------------------------------------------------------- model layers

const d8 = (T = 3, B = 1): InputSpec => ({ shape: ['B', 'T', 8], dims: [B, T, 8] });
const weight = (n: number, seed: number, s = 1) => Array.from({ length: n }, (_, i) => s * Math.sin(0.7 * i + seed));
vjpTest({ name: 'rmsNorm with weight', x: d8(), build: (g, x) => rmsNorm(x, g.floats(weight(8, 1)), 1e-6) });
vjpTest({
  name: 'rmsNorm without weight, unit offset variant',
  x: d8(),
  build: (g, x) => op.add(rmsNorm(x, null, 1e-5), rmsNorm(x, g.floats(weight(8, 2)), 1e-5, { unitOffset: true })),
});
vjpTest({
  name: 'layerNorm with weight and bias',
  x: d8(),
  build: (g, x) => layerNorm(x, g.floats(weight(8, 3)), g.floats(weight(8, 4, 0.1)), 1e-5),
});
vjpTest({ name: 'layerNorm without parameters', x: d8(), build: (_, x) => layerNorm(x, null, null, 1e-5) });
for (const a of ['silu', 'gelu', 'gelu_tanh'] as const)
  vjpTest({ name: `activation ${a}`, x: x34(uniform(-3, 3)), build: (_, x) => activation(a, x) });

/** Flat [B·T, d] → q/k/v heads through a frozen projection. */
function heads(g: Graph, seq: Sequence, flat: Value, n: number, D: number, seed: number): Value {
  const d = flat.dim(-1);
  return splitHeads(seq, op.linear2d(flat, g.floats(weight(n * D * d, seed, 1 / Math.sqrt(d)), [n * D, d])), n, D);
}

for (const [rotary, interleaved] of [
  [4, false],
  [4, true],
  [2, false],
  [2, true],
] as const) {
  vjpTest({
    name: `rope over [B,H,T,D] (D 4, rotary ${rotary}, ${interleaved ? 'interleaved' : 'halves'})`,
    x: d8(3, 2),
    build: (g, x) => {
      const seq = new Sequence(g, x);
      const q = splitHeads(seq, op.reshape(x, [-1, 8]), 2, 4);
      return mergeHeads(rope(q, ropeTables(seq, rotary, 100), rotary, interleaved));
    },
  });
}

for (const [label, H, Hkv, opts] of [
  ['multi-head', 2, 2, {}],
  ['grouped-query (4 heads, 2 kv)', 4, 2, {}],
  ['grouped-query, sliding window 2, softcap 2', 4, 2, { window: 2, softcap: 2 }],
  ['multi-query (4 heads, 1 kv), scale 0.3', 4, 1, { scale: 0.3 }],
] as const) {
  vjpTest({
    name: `attention: ${label}, with rope`,
    x: d8(3, 2),
    build: (g, x) => {
      const D = 8 / H;
      const seq = new Sequence(g, x);
      const flat = op.reshape(x, [-1, 8]);
      const tables = ropeTables(seq, D, 100);
      const q = rope(heads(g, seq, flat, H, D, 1), tables, D);
      const k = rope(heads(g, seq, flat, Hkv, D, 2), tables, D);
      const v = heads(g, seq, flat, Hkv, D, 3);
      return mergeHeads(attention(seq, op.scale(q, 2), op.scale(k, 2), v, { cacheName: 'l0', ...opts }));
    },
  });
}

vjpTest({
  name: 'a Llama-style block: rmsNorm → GQA attention with rope → residual → rmsNorm → SiLU MLP → residual',
  x: d8(4, 1),
  directional: false,
  build: (g, x) => {
    const seq = new Sequence(g, x);
    const flat = op.reshape(x, [-1, 8]);
    const hN = rmsNorm(flat, g.floats(weight(8, 5)), 1e-6);
    const tables = ropeTables(seq, 2, 10000);
    const q = rope(heads(g, seq, hN, 4, 2, 6), tables, 2);
    const k = rope(heads(g, seq, hN, 2, 2, 7), tables, 2);
    const v = heads(g, seq, hN, 2, 2, 8);
    const att = op.linear2d(
      mergeHeads(attention(seq, q, k, v, { cacheName: 'l0' })),
      g.floats(weight(64, 9, 1 / Math.sqrt(8)), [8, 8]),
    );
    const h1 = op.add(flat, att);
    const m = rmsNorm(h1, g.floats(weight(8, 10)), 1e-6);
    const up = op.linear2d(m, g.floats(weight(96, 11, 1 / Math.sqrt(8)), [12, 8]));
    const [gate, lin] = op.split(up, -1, [6, 6]);
    const down = op.linear2d(op.mul(activation('silu', gate), lin), g.floats(weight(48, 12, 1 / Math.sqrt(6)), [8, 6]));
    return op.reshape(op.add(h1, down), seq.shape([8]));
  },
});
vjpTest({
  name: 'the same kind of composition compared along directions (96 inputs)',
  x: d8(4, 3),
  build: (g, x) => {
    const seq = new Sequence(g, x);
    const flat = op.reshape(x, [-1, 8]);
    const hN = layerNorm(flat, g.floats(weight(8, 13)), null, 1e-5);
    const q = heads(g, seq, hN, 2, 4, 14);
    const k = heads(g, seq, hN, 2, 4, 15);
    const v = heads(g, seq, hN, 2, 4, 16);
    const att = mergeHeads(attention(seq, q, k, v, { cacheName: 'l0' }));
    return op.add(flat, activation('gelu', att));
  },
});

// ---------------------------------------------------------------- state-space ops (cumsum, scans, convolution)

for (const [label, opts] of [
  ['inclusive', {}],
  ['exclusive', { exclusive: true }],
  ['reverse', { reverse: true }],
  ['reverse exclusive', { exclusive: true, reverse: true }],
] as const) {
  vjpTest({
    name: `cumsum axis 1 of [2,5,3], ${label}`,
    x: { shape: [2, 5, 3], dims: [2, 5, 3] },
    build: (_, x) => op.cumsum(x, 1, opts),
  });
}
vjpTest({
  name: 'cumsum axis −1 of [B,T] (dynamic), squared after',
  x: { shape: ['B', 'T'], dims: [2, 6] },
  build: (_, x) => op.powScalar(op.cumsum(x, -1), 2),
});
vjpTest({
  name: 'cumsum axis −2 of a masked [T,T] matrix (segment sums)',
  x: { shape: [4], dims: [4] },
  build: (g, x) => {
    const i = op.unsqueeze(op.range(g.scalar(0, 'int64'), g.scalar(4, 'int64'), 4), [1]);
    const j = op.unsqueeze(op.range(g.scalar(0, 'int64'), g.scalar(4, 'int64'), 4), [0]);
    const X = op.where(op.greater(i, j), op.unsqueeze(x, [1]), g.scalar(0));
    return op.cumsum(X, -2);
  },
});
// a in (0.3, 1.1): decays and slight growth; b anything. Both operands, x used as a and (transformed) as b.
vjpTest({
  name: 'linearScan over axis 1 of [2,5,3], x as a',
  x: { shape: [2, 5, 3], dims: [2, 5, 3], data: uniform(0.3, 1.1) },
  inputs: { b: { shape: [2, 5, 3], dims: [2, 5, 3] } },
  build: (_, x, c) => op.linearScan(x, c.b, 1),
});
vjpTest({
  name: 'linearScan over axis 1 of [2,5,3], x as b',
  x: { shape: [2, 5, 3], dims: [2, 5, 3] },
  inputs: { a: { shape: [2, 5, 3], dims: [2, 5, 3], data: uniform(0.3, 1.1) } },
  build: (_, x, c) => op.linearScan(c.a, x, 1),
});
vjpTest({
  name: 'linearScan with a = exp(−x²), b = x (both operands), axis −2 of [B,4,3]',
  x: { shape: ['B', 4, 3], dims: [2, 4, 3] },
  build: (_, x) => op.linearScan(op.exp(op.neg(op.mul(x, x))), x, -2),
});
vjpTest({
  name: 'linearScan of one step is the identity on b',
  x: { shape: [2, 1, 3], dims: [2, 1, 3] },
  inputs: { a: { shape: [2, 1, 3], dims: [2, 1, 3] } },
  build: (_, x, c) => op.linearScan(op.add(c.a, x), x, 1),
});
test('linearScan equals the recurrence computed by hand', async () => {
  const r = await rt();
  const g = new Graph('scan');
  const a = g.input('a', 'float32', [2, 4]);
  const b = g.input('b', 'float32', [2, 4]);
  g.output(op.linearScan(a, b, 1), 'h');
  const s = await createSession(r, serialize(g), null);
  const av = [0.5, 2, -1, 0.25, 1, 1, 1, 1];
  const bv = [1, 2, 3, 4, 1, -1, 2, 0.5];
  const out = await s.run({
    a: new r.ort.Tensor('float32', Float32Array.from(av), [2, 4]),
    b: new r.ort.Tensor('float32', Float32Array.from(bv), [2, 4]),
  });
  const want: number[] = [];
  for (let row = 0; row < 2; row++) {
    let h = 0;
    for (let t = 0; t < 4; t++) {
      h = av[row * 4 + t] * h + bv[row * 4 + t];
      want.push(h);
    }
  }
  assert.deepEqual(Array.from(out.h.data as Float32Array), want);
  await s.release();
});
// The chunked selective scan as one composition: x [1, 5, 10] holds Δ (before softplus), x, B and C; chunk 2 leaves a
// partial last chunk; both outputs (y and the final state) weighted.
vjpTest({
  name: 'selectiveScan (chunk 2, T 5, D 3, N 2): Δ, x, B, C from one input, y and the final state',
  x: { shape: [1, 'T', 10], dims: [1, 5, 10] },
  build: (g, x) => {
    const [dt, xs, B, C] = op.split(x, -1, [3, 3, 2, 2]);
    const A = g.floats([-0.5, -1, -2, -0.25, -3, -1.5], [3, 2]);
    const { y, last } = selectiveScan({ dt: op.softplus(dt), A, B, C, x: xs }, { chunk: 2 });
    return [y, last];
  },
});
vjpTest({ name: 'sigmoidExact (−6..6)', x: x34(uniform(-6, 6)), build: (_, x) => op.sigmoidExact(x) });
vjpTest({
  name: 'sigmoidExact far below 0 (−30..−10), scaled',
  x: x34(uniform(-30, -10)),
  h: 1e-2,
  build: (_, x) => op.scale(op.sigmoidExact(x), 1e6),
});
vjpTest({ name: 'siluExact (−6..6)', x: x34(uniform(-6, 6)), build: (_, x) => op.siluExact(x) });
vjpTest({
  name: 'softplusExact (−9..4), the Mamba Δ range',
  x: x34(uniform(-9, 4)),
  build: (_, x) => op.softplusExact(x),
});
vjpTest({
  name: 'softplusExact around 20 (both branches)',
  x: x34((r) => 20 + (r() < 0.5 ? -1 : 1) * (0.15 + 2 * r())),
  build: (_, x) => op.softplusExact(x),
});
test("sigmoidExact and its gradient are accurate to float32 where ONNX Runtime's Sigmoid is not (x ≪ 0)", async () => {
  const r = await rt();
  const g = new Graph('sigmoid');
  const x = g.input('x', 'float32', [8], { requiresGrad: true });
  const y = op.sigmoidExact(x);
  const [dx] = gradients([op.reduceSum(y, [0], false)], [g.scalar(1)], [x]);
  g.output(y, 'y');
  g.output(dx, 'dx');
  g.output(op.softplusExact(x), 'sp');
  const s = await createSession(r, serialize(g), null);
  const xs = Float32Array.from([-100, -30, -12, -8, -1, 0.5, 8, 30]);
  const out = await s.run({ x: new r.ort.Tensor('float32', xs, [8]) });
  await s.release();
  xs.forEach((v, i) => {
    const sig = 1 / (1 + Math.exp(-v));
    const rel = (a: number, b: number) => (b === 0 ? Math.abs(a) : Math.abs(a - b) / Math.abs(b));
    if (v > -80)
      assert.ok(
        rel((out.y.data as Float32Array)[i], sig) < 5e-7,
        `σ(${v}) = ${(out.y.data as Float32Array)[i]}, want ${sig}`,
      );
    else assert.ok((out.y.data as Float32Array)[i] < 1e-34);
    const dsig = Math.exp(-v) / (1 + Math.exp(-v)) ** 2;
    if (v > -80)
      assert.ok(
        rel((out.dx.data as Float32Array)[i], dsig) < 1e-6,
        `σ'(${v}) = ${(out.dx.data as Float32Array)[i]}, want ${dsig}`,
      );
    assert.ok(Number.isFinite((out.dx.data as Float32Array)[i]));
    const sp = v > 20 ? v : Math.log1p(Math.exp(v));
    assert.ok(
      rel((out.sp.data as Float32Array)[i], sp) < 5e-7 || Math.abs((out.sp.data as Float32Array)[i] - sp) < 1e-40,
      `softplus(${v})`,
    );
  });
});
// selectiveChunkScan: x [1, 2, 4, 11] (two chunks of 4) holds Δ (before softplus), u (3 each) and B (2); A mixes mild and
// strong decays; every output element weighted. Then the same with one chunk of one step.
for (const [L, label] of [
  [4, 'two chunks of 4'],
  [1, 'chunks of 1'],
] as const) {
  vjpTest({
    name: `selectiveChunkScan (${label}, D 3, N 2): Δ, u and B from one input, h and the last step`,
    x: { shape: [1, 'C', L, 8], dims: [1, 2, L, 8] },
    build: (g, x) => {
      const [dt, u, B] = op.split(x, -1, [3, 3, 2]);
      const A = g.floats([-0.5, -1, -2, -0.25, -3, -1.5], [3, 2]);
      const { h, last } = op.selectiveChunkScan(
        op.unsqueeze(op.softplus(dt), [-1]),
        op.unsqueeze(u, [-1]),
        op.unsqueeze(B, [-2]),
        A,
        2,
      );
      return [h, last];
    },
  });
}
vjpTest({
  name: 'depthwiseConv1d: x [B,3,T] with a kernel of 4 and a bias (valid positions only)',
  x: { shape: ['B', 3, 'T'], dims: [2, 3, 7] },
  build: (g, x) => op.depthwiseConv1d(x, g.floats(weight(12, 21), [3, 1, 4]), g.floats([0.1, -0.2, 0.3])),
});
vjpTest({
  name: 'depthwiseConv1d: kernel of 1, then squared (static shapes)',
  x: { shape: [1, 2, 5], dims: [1, 2, 5] },
  build: (g, x) => op.powScalar(op.depthwiseConv1d(x, g.floats([0.5, -1.5], [2, 1, 1])), 2),
});
test('depthwiseConv1d equals the sum of shifted, weighted inputs', async () => {
  const r = await rt();
  const g = new Graph('conv');
  const x = g.input('x', 'float32', [1, 2, 5]);
  g.output(op.depthwiseConv1d(x, g.floats([1, 2, 3, -1, 0.5, 0.25], [2, 1, 3]), g.floats([10, 20])), 'y');
  const s = await createSession(r, serialize(g), null);
  const xv = [1, 2, 3, 4, 5, -1, -2, -3, -4, -5];
  const out = await s.run({ x: new r.ort.Tensor('float32', Float32Array.from(xv), [1, 2, 5]) });
  await s.release();
  const w = [
    [1, 2, 3],
    [-1, 0.5, 0.25],
  ];
  const want: number[] = [];
  for (let c = 0; c < 2; c++)
    for (let t = 0; t < 3; t++)
      want.push([0, 1, 2].reduce((acc, k) => acc + w[c][k] * xv[c * 5 + t + k], c === 0 ? 10 : 20));
  assert.deepEqual(Array.from(out.y.data as Float32Array), want);
});
vjpTest({
  name: 'selectiveChunkScan, the last step only (h unused)',
  x: { shape: [1, 2, 3, 8], dims: [1, 2, 3, 8] },
  build: (g, x) => {
    const [dt, u, B] = op.split(x, -1, [3, 3, 2]);
    return op.selectiveChunkScan(
      op.unsqueeze(op.softplus(dt), [-1]),
      op.unsqueeze(u, [-1]),
      op.unsqueeze(B, [-2]),
      g.floats([-0.5, -1, -2, -0.25, -3, -1.5], [3, 2]),
      2,
    ).last;
  },
});
// ssmReadout: x [1, 2, 3, 13] holds h (3·2), Δ (3, made positive and summed), p (from the first step's h) and C (2),
// so every input of the readout depends on x.
vjpTest({
  name: 'ssmReadout: h, ΣΔ, p and C from one input',
  x: { shape: [1, 'C', 3, 13], dims: [1, 2, 3, 13] },
  build: (g, x) => {
    const [hf, dt, pf, C] = op.split(x, -1, [6, 3, 2, 2]);
    const h = op.reshape(hf, [1, -1, 3, 3, 2]);
    const s = op.cumsum(op.unsqueeze(op.softplus(dt), [-1]), 2);
    const p = op.reshape(op.slice(op.concat([pf, pf, pf], -1), [0], [1], [2]), [1, -1, 1, 3, 2]);
    return op.ssmReadout(h, s, g.floats([-0.5, -1, -2, -0.25, -3, -1.5], [3, 2]), p, op.unsqueeze(C, [-1]));
  },
});

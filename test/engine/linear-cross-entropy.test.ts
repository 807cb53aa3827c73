/**
 * The fused head cross-entropy (op.linearCrossEntropy, every model's loss, and headCrossEntropy's soft-capped path)
 * against finite differences and against a float64 reference computed here.
 *
 * Per case: a head W [V, H] held as one or several row blocks, with or without a bias, with or without Gemma-2's
 * soft-cap; hidden rows h [M, H] (a graph input with a dynamic M, requiresGrad) and int64 targets [M] that fall in
 * every block (repeated ones and both sides of each block boundary). The scalar loss is L = Σ_m w_m · ce_m with fixed
 * random row weights w of both signs (so the upstream gradient dce is not uniform), and dL/dh comes from `gradients()`.
 *
 * Checked: (1) ce and the argmax hits against the float64 reference; (2) the graph's dL/dh against the reference's
 * closed-form gradient; (3) that closed form against five-point finite differences of the float64 reference along
 * every coordinate of h (the reference is the derivative of its own loss); (4) the graph's dL/dh against five-point
 * finite differences of the graph's own float32 loss (read back and summed in float64) along every coordinate, and
 * that 2× the gradient does not match them, so a zero or halved gradient cannot pass. The graph is float32 (ops.ts
 * declares float32 outputs); everything computed on the host is float64.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as OrtTypes from 'onnxruntime-node';
import { gradients } from '../../src/engine/graph/autodiff.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import * as op from '../../src/engine/graph/ops.ts';
import { serialize } from '../../src/engine/graph/onnx.ts';
import { createSession } from '../../src/engine/runtime.ts';
import { headCrossEntropy, type Head } from '../../src/models/causal-lm.ts';
import { rng, rt } from './setup.ts';

const H = 6;
const M = 7;
/** Block sizes of the head (their sum is V). */
interface Case {
  name: string;
  blocks: number[];
  bias: boolean;
  softcap: number | null;
  direct?: boolean;
}

const CASES: Case[] = [
  { name: 'one block, no bias', blocks: [11], bias: false, softcap: null, direct: true },
  { name: 'one block, bias (Gemm with C)', blocks: [11], bias: true, softcap: null, direct: true },
  { name: 'three row blocks, no bias', blocks: [4, 4, 3], bias: false, softcap: null, direct: true },
  { name: 'three row blocks, bias (added after Concat)', blocks: [4, 4, 3], bias: true, softcap: null, direct: true },
  { name: 'soft-capped head, one block', blocks: [11], bias: false, softcap: 2.5 },
  { name: 'soft-capped head, three row blocks, bias', blocks: [4, 4, 3], bias: true, softcap: 2.5 },
];
/** Targets in every block, repeated, and on both sides of the boundaries 4 and 8. */
const TARGETS = [0, 3, 4, 7, 8, 10, 4];

/** Values rounded to float32, so the graph and the float64 reference see the same numbers. */
const f32 = (n: number, r: () => number, scale = 1) =>
  Array.from(Float32Array.from({ length: n }, () => scale * (2 * r() - 1)));

/** The float64 reference: per-row ce, argmax, and dL/dh for L = Σ w_m ce_m. */
function reference(h: number[], W: number[], b: number[] | null, cap: number | null, t: number[], w: number[]) {
  const V = W.length / H;
  const ce: number[] = [];
  const argmax: number[] = [];
  const dh = new Float64Array(M * H);
  for (let m = 0; m < M; m++) {
    const raw = Array.from({ length: V }, (_, v) => {
      let s = b ? b[v] : 0;
      for (let k = 0; k < H; k++) s += h[m * H + k] * W[v * H + k];
      return s;
    });
    const z = raw.map((q) => (cap ? cap * Math.tanh(q / cap) : q));
    const mx = Math.max(...z);
    const lse = mx + Math.log(z.reduce((s, q) => s + Math.exp(q - mx), 0));
    ce.push(lse - z[t[m]]);
    argmax.push(z.indexOf(mx));
    for (let v = 0; v < V; v++) {
      const dz = Math.exp(z[v] - lse) - (v === t[m] ? 1 : 0);
      const dzdRaw = cap ? 1 - Math.tanh(raw[v] / cap) ** 2 : 1;
      for (let k = 0; k < H; k++) dh[m * H + k] += w[m] * dz * dzdRaw * W[v * H + k];
    }
  }
  return { ce, argmax, dh, loss: ce.reduce((s, c, m) => s + w[m] * c, 0) };
}

/** Five-point central differences of f along every coordinate of x. */
async function fivePoint(x: number[], step: number, f: (x: number[]) => number | Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const at = (d: number) => f(x.map((v, j) => (j === i ? v + d : v)));
    out.push(
      (-(await at(2 * step)) + 8 * (await at(step)) - 8 * (await at(-step)) + (await at(-2 * step))) / (12 * step),
    );
  }
  return out;
}

/** Largest |a − b| relative to the larger of the two vectors' largest entries. */
function relMaxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]), Math.abs(b[i]));
  }
  return err / scale;
}

for (const c of CASES) {
  test(`fused head cross-entropy against finite differences: ${c.name}`, async () => {
    const r = await rt();
    const ort = r.ort;
    const rand = rng(c.name);
    const V = c.blocks.reduce((a, q) => a + q, 0);
    assert.ok(TARGETS.every((q) => q < V) && TARGETS.length === M);
    const W = f32(V * H, rand, 0.8);
    const bias = c.bias ? f32(V, rand, 0.5) : null;
    const h0 = f32(M * H, rand);
    const w = f32(M, rand, 2);

    const g = new Graph('head-ce');
    const h = g.input('h', 'float32', ['M', H], { requiresGrad: true });
    const targets = g.input('t', 'int64', ['M']);
    const rowWeights = g.input('w', 'float32', ['M']);
    let start = 0;
    const blocks: op.RowBlock[] = c.blocks.map((rows) => {
      const block = { value: g.floats(W.slice(start * H, (start + rows) * H), [rows, H]), start, rows };
      start += rows;
      return block;
    });
    const head: Head = { blocks, bias: bias ? g.floats(bias, [V]) : null, softcap: c.softcap };
    const out = headCrossEntropy(head, h, targets);
    if (c.direct) {
      // Without a soft-cap the model's loss is exactly the fused op.
      const direct = op.linearCrossEntropy(h, blocks, head.bias, targets);
      g.output(direct.ce, 'ce_direct');
    }
    const L = op.reduceSum(op.mul(out.ce, rowWeights), [0], false);
    const [dh] = gradients([L], [g.scalar(1)], [h]);
    assert.deepEqual(dh.shape, h.shape);
    g.output(out.ce, 'ce');
    g.output(out.hit, 'hit');
    g.output(dh, 'dh');
    const session = await createSession(r, serialize(g), null);
    const feeds = {
      t: new ort.Tensor('int64', BigInt64Array.from(TARGETS.map(BigInt)), [M]),
      w: new ort.Tensor('float32', Float32Array.from(w), [M]),
    };
    const run = (x: number[]) => session.run({ ...feeds, h: new ort.Tensor('float32', Float32Array.from(x), [M, H]) });
    const graphLoss = (o: OrtTypes.InferenceSession.ReturnType) =>
      Array.from(o.ce.data as Float32Array).reduce((s, q, m) => s + w[m] * q, 0);
    try {
      const base = await run(h0);
      const ref = reference(h0, W, bias, c.softcap, TARGETS, w);
      const ce = Array.from(base.ce.data as Float32Array);
      assert.ok(relMaxErr(ce, ref.ce) < 1e-5, `ce ${ce} vs float64 ${ref.ce}`);
      if (c.direct)
        assert.deepEqual(Array.from(base.ce_direct.data as Float32Array), ce, 'headCrossEntropy is the fused op');
      assert.deepEqual(
        Array.from(base.hit.data as Float32Array),
        ref.argmax.map((a, m) => (a === TARGETS[m] ? 1 : 0)),
      );
      const grad = Array.from(base.dh.data as Float32Array);
      assert.ok(grad.every(Number.isFinite));

      // The float64 reference's closed form is the derivative of its own loss.
      const refFd = await fivePoint(h0, 1e-4, (x) => reference(x, W, bias, c.softcap, TARGETS, w).loss);
      assert.ok(
        relMaxErr(ref.dh, refFd) < 1e-8,
        `float64 reference vs its finite differences: ${relMaxErr(ref.dh, refFd)}`,
      );
      // The graph's gradient against the float64 closed form.
      assert.ok(relMaxErr(grad, ref.dh) < 1e-5, `graph dL/dh vs float64 reference: ${relMaxErr(grad, ref.dh)}`);
      // The graph's gradient against finite differences of the graph's own float32 loss; 2× must not match.
      const fd = await fivePoint(h0, 2e-2, async (x) => graphLoss(await run(x)));
      const err = relMaxErr(grad, fd);
      assert.ok(
        err < 1e-3,
        `graph dL/dh vs finite differences of the graph: ${err}; ${grad.slice(0, 6)} / ${fd.slice(0, 6)}`,
      );
      assert.ok(
        relMaxErr(
          grad.map((q) => 2 * q),
          fd,
        ) > 0.1,
        '2× the gradient also matches',
      );
    } finally {
      await session.release();
    }
  });
}

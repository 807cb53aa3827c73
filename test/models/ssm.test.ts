/**
 * The chunked selective scan (the fast path, src/models/ssm.ts) against the per-position reference on random inputs:
 * outputs, final state, and the gradients w.r.t. every input, at lengths that fill chunks exactly, leave a partial
 * chunk, or are shorter than one chunk, with and without a carried initial state, and with decays from mild to
 * underflowing (A down to −4096, as in the tiny-mamba fixture).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { gradients } from '../../src/engine/graph/autodiff.ts';
import { Graph, type Value } from '../../src/engine/graph/graph.ts';
import * as op from '../../src/engine/graph/ops.ts';
import { serialize } from '../../src/engine/graph/onnx.ts';
import { createSession, initRuntime } from '../../src/engine/runtime.ts';
import {
  selectiveScan,
  selectiveScanSequential,
  ssdScan,
  ssdScanSequential,
  type ScanInputs,
} from '../../src/models/ssm.ts';

const runtime = initRuntime('cpu');

interface Data {
  dims: { B: number; T: number; D: number; N: number };
  inputs: Record<string, Float32Array>;
  seeds: Record<string, Float32Array>;
}

function data(seed: string, B: number, T: number, D: number, N: number, logAMax: number, withH0: boolean): Data {
  const r = seedrandom(seed);
  const u = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const inputs: Record<string, Float32Array> = {
    dt: u(B * T * D, 0.001, 1.5),
    A: u(D * N, 0, logAMax).map((v) => -Math.exp(v)),
    B: u(B * T * N, -2, 2),
    C: u(B * T * N, -2, 2),
    x: u(B * T * D, -2, 2),
  };
  if (withH0) inputs.h0 = u(B * D * N, -2, 2);
  return { dims: { B, T, D, N }, inputs, seeds: { y: u(B * T * D, -1, 1), last: u(B * D * N, -1, 1) } };
}

const GRAD = ['dt', 'B', 'C', 'x', 'h0'];

/** Runs one path; returns y, last and the gradients of Σ y·Ry + Σ last·Rlast w.r.t. the inputs. */
async function run(
  path: 'fast' | 'reference',
  d: Data,
  chunk: number,
  group: number,
): Promise<Record<string, Float32Array>> {
  const { B, T, D, N } = d.dims;
  const g = new Graph(path);
  // The fast path is built with dynamic batch and length, as the models build it; the reference needs a static T.
  const bt = path === 'fast' ? ['B', 'T'] : [B, T];
  const shapes: Record<string, (number | string)[]> = {
    dt: [...bt, D],
    A: [D, N],
    B: [...bt, N],
    C: [...bt, N],
    x: [...bt, D],
    h0: [bt[0], D, N],
  };
  const v: Record<string, Value> = {};
  for (const k of Object.keys(d.inputs)) v[k] = g.input(k, 'float32', shapes[k], { requiresGrad: k !== 'A' });
  const inp: ScanInputs = { dt: v.dt, A: v.A, B: v.B, C: v.C, x: v.x, h0: v.h0 ?? null };
  const out = path === 'fast' ? selectiveScan(inp, { chunk, group }) : selectiveScanSequential(inp);
  const dimsOf: Record<string, number[]> = {
    dt: [B, T, D],
    A: [D, N],
    B: [B, T, N],
    C: [B, T, N],
    x: [B, T, D],
    h0: [B, D, N],
  };
  return runWithGradients(g, v, out, d, dimsOf, { y: [B, T, D], last: [B, D, N] });
}

/**
 * Adds loss = Σ y·Ry + Σ last·Rlast to g (R the seeds), its gradients w.r.t. the inputs in GRAD, and runs the graph
 * once on the inputs; returns y, last (checked to have the seeds' shapes) and the gradients d_<input>.
 */
async function runWithGradients(
  g: Graph,
  v: Record<string, Value>,
  out: { y: Value; last: Value },
  d: { inputs: Record<string, Float32Array>; seeds: Record<string, Float32Array> },
  dims: Record<string, number[]>,
  seedDims: { y: number[]; last: number[] },
): Promise<Record<string, Float32Array>> {
  const r = await runtime;
  const seeded = (x: Value, name: string) => {
    const all = x.shape.map((_, i) => i);
    return op.reduceSum(op.mul(x, g.input(name, 'float32', x.shape)), all, false);
  };
  const loss = op.add(seeded(out.y, 'ry'), seeded(out.last, 'rl'));
  const wrt = GRAD.filter((k) => v[k]);
  const grads = gradients(
    [loss],
    [g.scalar(1)],
    wrt.map((k) => v[k]),
  );
  g.output(out.y, 'y');
  g.output(out.last, 'last');
  wrt.forEach((k, i) => g.output(grads[i], `d_${k}`));
  const s = await createSession({ ...r, threads: 1 }, serialize(g), null);
  const feeds: Record<string, InstanceType<typeof r.ort.Tensor>> = {};
  for (const [k, a] of Object.entries(d.inputs)) feeds[k] = new r.ort.Tensor('float32', a, dims[k]);
  feeds.ry = new r.ort.Tensor('float32', d.seeds.y, seedDims.y);
  feeds.rl = new r.ort.Tensor('float32', d.seeds.last, seedDims.last);
  const res = await s.run(feeds);
  await s.release();
  const o: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(res)) o[k] = t.data as Float32Array;
  assert.deepEqual(res.y.dims.map(Number), seedDims.y);
  assert.deepEqual(res.last.dims.map(Number), seedDims.last);
  return o;
}

/** max |a − b| / max |b| (relative to the reference's scale). */
function relMax(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    assert.ok(Number.isFinite(a[i]), `non-finite value at ${i}`);
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / Math.max(scale, 1e-30);
}

const CASES: [string, number, number, number, number, number, number, number, boolean][] = [
  // name, B, T, D, N, chunk, group, max log|A|, h0
  ['T a multiple of the chunk, mild decay', 2, 16, 5, 4, 4, 4, 1, false],
  ['partial last chunk, strong decay (A to −4096)', 2, 13, 6, 3, 4, 2, 8.3, false],
  ['T shorter than one chunk, carried state', 1, 3, 4, 4, 8, 8, 3, true],
  ['one position, carried state', 2, 1, 3, 2, 4, 2, 2, true],
  ['many chunks in several groups, carried state', 1, 37, 4, 3, 2, 3, 5, true],
  ['chunk 1, group 1 (every position its own chunk and group)', 1, 6, 3, 2, 1, 1, 2, true],
  ['defaults (chunk 16, group 8) over 300 positions: three groups', 1, 300, 3, 2, 16, 8, 3, true],
];
/** Every output of the chunked scan within 2e-6 (relative) of the sequential reference's; returns the errors. */
function assertSameOutputs(fast: Record<string, Float32Array>, ref: Record<string, Float32Array>): string {
  const report: string[] = [];
  for (const k of Object.keys(ref)) {
    const e = relMax(fast[k], ref[k]);
    report.push(`${k} ${e.toExponential(2)}`);
    assert.ok(e < 2e-6, `${k}: relative error ${e} (${report.join(', ')})`);
  }
  return report.join(', ');
}

for (const [name, B, T, D, N, chunk, group, logA, h0] of CASES) {
  test(`chunked scan = sequential reference (values, final state, gradients): ${name}`, async (t) => {
    const d = data(name, B, T, D, N, logA, h0);
    const fast = await run('fast', d, chunk, group);
    const ref = await run('reference', d, chunk, group);
    t.diagnostic(assertSameOutputs(fast, ref));
  });
}

// ---------------------------------------------------------------- Mamba-2 (SSD): chunked against one step per position

async function runSsd(
  path: 'fast' | 'reference',
  d: { dims: number[]; inputs: Record<string, Float32Array>; seeds: Record<string, Float32Array> },
  chunk: number,
): Promise<Record<string, Float32Array>> {
  const [B, T, H, P, N] = d.dims;
  const g = new Graph(`ssd-${path}`);
  const bt = path === 'fast' ? ['B', 'T'] : [B, T];
  const shapes: Record<string, (number | string)[]> = {
    dt: [...bt, H],
    A: [H],
    x: [...bt, H, P],
    B: [...bt, H, N],
    C: [...bt, H, N],
    h0: [bt[0], H, P, N],
  };
  const dims: Record<string, number[]> = {
    dt: [B, T, H],
    A: [H],
    x: [B, T, H, P],
    B: [B, T, H, N],
    C: [B, T, H, N],
    h0: [B, H, P, N],
  };
  const v: Record<string, Value> = {};
  for (const k of Object.keys(d.inputs)) v[k] = g.input(k, 'float32', shapes[k], { requiresGrad: k !== 'A' });
  const inp = { dt: v.dt, A: v.A, x: v.x, B: v.B, C: v.C, h0: v.h0 ?? null };
  const out = path === 'fast' ? ssdScan(inp, { chunk }) : ssdScanSequential(inp);
  return runWithGradients(g, v, out, d, dims, { y: [B, T, H, P], last: [B, H, P, N] });
}

const SSD_CASES: [string, number, number, number, number, number, number, number, boolean][] = [
  // name, B, T, H, P, N, chunk, max log|A|, h0
  ['one chunk, mild decay', 2, 8, 3, 4, 5, 8, 1, false],
  ['partial last chunk, strong decay (A to −4096)', 2, 13, 2, 3, 4, 4, 8.3, false],
  ['many chunks, carried state', 1, 37, 3, 2, 3, 4, 4, true],
  ['one position, carried state', 2, 1, 2, 3, 2, 4, 2, true],
];
for (const [name, B, T, H, P, N, chunk, logA, h0] of SSD_CASES) {
  test(`SSD chunked scan = sequential reference (values, final state, gradients): ${name}`, async (t) => {
    const r = seedrandom(name);
    const u = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
    const inputs: Record<string, Float32Array> = {
      dt: u(B * T * H, 0.001, 1.5),
      A: u(H, 0, logA).map((v) => -Math.exp(v)),
      x: u(B * T * H * P, -2, 2),
      B: u(B * T * H * N, -2, 2),
      C: u(B * T * H * N, -2, 2),
    };
    if (h0) inputs.h0 = u(B * H * P * N, -2, 2);
    const d = { dims: [B, T, H, P, N], inputs, seeds: { y: u(B * T * H * P, -1, 1), last: u(B * H * P * N, -1, 1) } };
    const fast = await runSsd('fast', d, chunk);
    const ref = await runSsd('reference', d, chunk);
    t.diagnostic(assertSameOutputs(fast, ref));
  });
}

/** The fixed wasm BatchMatMul/Identity kernels (src/engine/wasm-kernels.ts) against the tfjs cpu backend. */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// The @tensorflow/tfjs bundle registers the gradients (the tfjs-core entry point Node loads has none).
import '@tensorflow/tfjs';
import { installWasmFixes } from '../../src/engine/wasm-kernels.ts';

// Deterministic data (mulberry32), so a failure reproduces.
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}
const size = (s: number[]) => s.reduce((p, d) => p * d, 1);

/** Runs fn on `backend` with fresh tensors built from the given arrays; returns the outputs as arrays. */
async function runOn(backend: string, inputs: { shape: number[]; data: Float32Array }[],
  fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<{ shape: number[]; data: Float32Array }[]> {
  const prev = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
      const ys = fn(...xs);
      return (Array.isArray(ys) ? ys : [ys]).map((y) => ({ shape: y.shape, data: y.dataSync() as Float32Array }));
    });
  } finally {
    await tf.setBackend(prev);
  }
}

function assertClose(got: { shape: number[]; data: Float32Array }, want: { shape: number[]; data: Float32Array },
  what: string, rtol = 2e-5): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  let maxRef = 0, maxDiff = 0;
  for (let i = 0; i < want.data.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want.data[i]));
    maxDiff = Math.max(maxDiff, Math.abs(got.data[i] - want.data[i]));
  }
  assert.ok(Number.isFinite(maxDiff) && maxDiff <= rtol * Math.max(maxRef, 1e-6),
    `${what}: max |diff| ${maxDiff} vs max |ref| ${maxRef}`);
}



before(async () => {
  await installWasmFixes();
  assert.ok(await tf.setBackend('wasm'));
  await tf.ready();
});

describe('fixed wasm BatchMatMul', () => {
  // [aShape, bShape] in the *untransposed* layout [.., M, K] x [.., K, N]; transposed variants are derived.
  const cases: [string, number[], number[]][] = [
    ['rank 2', [5, 7], [7, 3]],
    ['rank 2, XNNPACK-sized', [67, 48], [48, 80]],
    ['batch > 1', [4, 5, 7], [4, 7, 3]],
    ['broadcast b (batch 1)', [4, 5, 7], [1, 7, 3]],
    ['broadcast b (rank 2)', [4, 5, 7], [7, 3]],
    ['broadcast a (batch 1)', [1, 5, 7], [4, 7, 3]],
    ['broadcast a (rank 2)', [5, 7], [3, 7, 6]],
    ['rank 4', [2, 3, 5, 7], [2, 3, 7, 4]],
    ['rank 4 x rank 2', [2, 3, 5, 7], [7, 4]],
    ['rank 4, broadcast inner batch', [2, 3, 5, 7], [3, 7, 4]],
  ];
  const tr = (s: number[]) => [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
  let seed = 1;
  for (const [name, aS, bS] of cases) {
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`${name} ${JSON.stringify(aS)}x${JSON.stringify(bS)} transposeA=${tA} transposeB=${tB}`, async () => {
        const aShape = tA ? tr(aS) : aS, bShape = tB ? tr(bS) : bS;
        const ins = [{ shape: aShape, data: rand(size(aShape), seed++) }, { shape: bShape, data: rand(size(bShape), seed++) }];
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, tA, tB);
        const [want] = await runOn('cpu', ins, f);
        const [got] = await runOn('wasm', ins, f);
        assertClose(got, want, 'matMul');
      });
    }
  }

  it('general broadcast [2,1,M,K]x[3,K,N] (cpu reference on explicitly tiled inputs)', async () => {
    const ins = [{ shape: [2, 1, 5, 7], data: rand(70, 99) }, { shape: [3, 7, 4], data: rand(84, 98) }];
    const [want] = await runOn('cpu', ins, (a, b) =>
      tf.matMul(tf.tile(a, [1, 3, 1, 1]), tf.tile(tf.reshape(b, [1, 3, 7, 4]), [2, 1, 1, 1])));
    const [got] = await runOn('wasm', ins, (a, b) => tf.matMul(a, b, false, false));
    assertClose(got, want, 'matMul');
    const [gotT] = await runOn('wasm', ins, (a, b) => tf.matMul(tf.transpose(a, [0, 1, 3, 2]), b, true, false));
    assertClose(gotT, want, 'matMul transposeA');
  });

  it('gradients of a composite with transposed and batched matMuls match cpu', async () => {
    const ins = [
      { shape: [6, 8], data: rand(48, 11) }, // x
      { shape: [5, 8], data: rand(40, 12) }, // w, used as x·wᵀ
      { shape: [3, 2, 4], data: rand(24, 13) }, // v
    ];
    const f = (x: tf.Tensor, w: tf.Tensor, v: tf.Tensor) => {
      const g = tf.grads((x: tf.Tensor, w: tf.Tensor, v: tf.Tensor) => {
        const h = tf.reshape(tf.matMul(x, w, false, true), [3, 2, 5]); // transposeB: [3,2,5]
        const att = tf.sin(tf.matMul(h, h, false, true)); // batched, transposeB: [3,2,2]
        const y = tf.matMul(att, v); // batched: [3,2,4]
        const xtx = tf.matMul(x, x, true, false); // transposeA: [8,8]
        const z = tf.matMul(tf.reshape(y, [6, 4]), tf.reshape(xtx, [4, 16]), false, false); // [6,16]
        return tf.sum(tf.sin(z));
      });
      return g([x, w, v]);
    };
    const want = await runOn('cpu', ins, f);
    const got = await runOn('wasm', ins, f);
    assert.equal(got.length, 3);
    got.forEach((g, i) => assertClose(g, want[i], `grad ${i}`, 5e-5));
  });

  it('transformer-sized shapes stay correct (folded batch, per-slice, transposes)', async () => {
    const ins = [{ shape: [8, 65, 32], data: rand(8 * 65 * 32, 21) }, { shape: [8, 65, 32], data: rand(8 * 65 * 32, 22) },
      { shape: [96, 40], data: rand(96 * 40, 23) }];
    const f = (q: tf.Tensor, k: tf.Tensor, w: tf.Tensor) => [
      tf.matMul(q, k, false, true), // attention scores
      tf.matMul(q, k, true, false), // [8,32,32]
      tf.matMul(tf.reshape(q, [8 * 65, 32]), tf.slice(w, [0, 0], [32, 40])), // folded 2-D
      tf.matMul(w, tf.slice(tf.reshape(q, [8 * 65, 32]), [0, 0], [40, 32]), false, false), // [96,32]
    ];
    const want = await runOn('cpu', ins, f);
    const got = await runOn('wasm', ins, f);
    got.forEach((g, i) => assertClose(g, want[i], `output ${i}`));
  });

  it('no leaks: tensors and backend buffers are back to the baseline after tidy', () => {
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const a = tf.tensor(rand(4 * 5 * 7, 31), [4, 5, 7]);
    const b = tf.tensor(rand(4 * 7 * 3, 32), [4, 7, 3]);
    const n0 = tf.memory().numTensors, d0 = backend.numDataIds();
    tf.tidy(() => {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const a2 = tA ? tf.transpose(a, [0, 2, 1]) : a, b2 = tB ? tf.transpose(b, [0, 2, 1]) : b;
        tf.matMul(a2, b2, tA, tB).dataSync();
        tf.matMul(tf.slice(a2, [0, 0, 0], [1, -1, -1]), b2, tA, tB).dataSync();
        tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x, b2, tA, tB)))(a2).dataSync();
        tf.clone(a).dataSync();
      }
    });
    assert.equal(tf.memory().numTensors, n0);
    assert.equal(backend.numDataIds(), d0);
    a.dispose(); b.dispose();
  });
});

describe('fixed wasm Identity', () => {
  it('clone shares the buffer and survives disposal of the source', () => {
    const backend = tf.backend() as unknown as {
      numDataIds(): number; dataIdMap: { get(id: object): { memoryOffset: number; refCount: number } };
    };
    const d0 = backend.numDataIds(), n0 = tf.memory().numTensors;
    const data = rand(1000, 41);
    const x = tf.tensor(data, [10, 100]);
    const y = tf.clone(x);
    assert.equal(y.dataId, x.dataId, 'clone reuses the dataId (no copy)');
    assert.equal(backend.numDataIds(), d0 + 1, 'no new buffer allocated');
    assert.equal(backend.dataIdMap.get(y.dataId).refCount, 2);
    x.dispose();
    assert.deepEqual(y.dataSync(), data);
    assert.deepEqual(y.shape, [10, 100]);
    const z = tf.add(y, 1);
    assert.ok(Math.abs(z.dataSync()[0] - (data[0] + 1)) < 1e-6);
    y.dispose(); z.dispose();
    assert.equal(backend.numDataIds(), d0, 'buffer freed once the last reference goes');
    assert.equal(tf.memory().numTensors, n0);
  });

  it('int32/bool and string tensors clone correctly', () => {
    const i = tf.tensor([1, 2, 3], [3], 'int32');
    const ic = tf.clone(i); i.dispose();
    assert.deepEqual(Array.from(ic.dataSync()), [1, 2, 3]); ic.dispose();
    const s = tf.tensor(['a', 'bc']);
    const sc = tf.clone(s); s.dispose();
    assert.deepEqual(sc.dataSync(), ['a', 'bc']); sc.dispose();
  });
});

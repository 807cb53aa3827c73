/**
 * GFLOP/s of the stock vs fixed tfjs-backend-wasm BatchMatMul on the shapes of a small transformer's
 * forward + backward pass. Run: npx tsx bench/wasm-matmul.ts [--quick]
 */
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { installWasmFixes, useFixedWasmKernels } from '../src/engine/wasm-kernels.ts';

interface Case { name: string; a: number[]; b: number[]; tA: boolean; tB: boolean; stockReps: number }

// [4096,128]x[128,8192] is the tied-embedding logits; its gradients use the transposed variants.
const CASES: Case[] = [
  { name: 'logits  [4096,128]x[128,8192]', a: [4096, 128], b: [128, 8192], tA: false, tB: false, stockReps: 1 },
  { name: 'logits  x·Wᵀ (tB) [4096,128]x[8192,128]ᵀ', a: [4096, 128], b: [8192, 128], tA: false, tB: true, stockReps: 1 },
  { name: 'dW      xᵀ·dy (tA) [4096,128]ᵀx[4096,8192]', a: [4096, 128], b: [4096, 8192], tA: true, tB: false, stockReps: 1 },
  { name: 'qkv     [4096,128]x[128,384]', a: [4096, 128], b: [128, 384], tA: false, tB: false, stockReps: 3 },
  { name: 'qkv dX  (tB) [4096,384]x[128,384]ᵀ', a: [4096, 384], b: [128, 384], tA: false, tB: true, stockReps: 1 },
  { name: 'qkv dW  (tA) [4096,128]ᵀx[4096,384]', a: [4096, 128], b: [4096, 384], tA: true, tB: false, stockReps: 1 },
  { name: 'attn    [256,65,32]x[256,32,65]', a: [256, 65, 32], b: [256, 32, 65], tA: false, tB: false, stockReps: 3 },
  { name: 'attn qkᵀ (tB) [256,65,32]x[256,65,32]ᵀ', a: [256, 65, 32], b: [256, 65, 32], tA: false, tB: true, stockReps: 3 },
  { name: 'attn dV (tA) [256,65,65]ᵀx[256,65,32]', a: [256, 65, 65], b: [256, 65, 32], tA: true, tB: false, stockReps: 3 },
];

function flops(c: Case): number {
  const M = c.tA ? c.a[c.a.length - 1] : c.a[c.a.length - 2];
  const K = c.tA ? c.a[c.a.length - 2] : c.a[c.a.length - 1];
  const N = c.tB ? c.b[c.b.length - 2] : c.b[c.b.length - 1];
  const batch = c.a.length > 2 ? c.a[0] : 1;
  return 2 * batch * M * N * K;
}

function time(c: Case, a: tf.Tensor, b: tf.Tensor, reps: number): number {
  tf.tidy(() => { tf.matMul(a, b, c.tA, c.tB).dataSync(); }); // warm-up (XNNPACK packs the weights once)
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) tf.tidy(() => { tf.matMul(a, b, c.tA, c.tB).dataSync(); });
  return (performance.now() - t0) / reps / 1000;
}

const quick = process.argv.includes('--quick');
const detail = await installWasmFixes();
await tf.setBackend('wasm');
await tf.ready();
console.log(`backend: ${detail}; XNNPACK threads: ${getThreadsCount()}`);
console.log(`${'shape'.padEnd(46)} ${'stock GF/s'.padStart(10)} ${'fixed GF/s'.padStart(10)} ${'speed-up'.padStart(8)}`);
for (const c of CASES) {
  const a = tf.randomNormal(c.a), b = tf.randomNormal(c.b);
  useFixedWasmKernels(false);
  const ts = time(c, a, b, quick ? 1 : c.stockReps);
  useFixedWasmKernels(true);
  const tfx = time(c, a, b, quick ? 2 : 5);
  const g = flops(c) / 1e9;
  console.log(`${c.name.padEnd(46)} ${(g / ts).toFixed(2).padStart(10)} ${(g / tfx).toFixed(2).padStart(10)} ${(ts / tfx).toFixed(1).padStart(7)}x`);
  a.dispose(); b.dispose();
}

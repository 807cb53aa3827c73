/** Shared test setup: one backend for the whole test process (wasm, as CI and the default run use). */
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/engine/backend.ts';

export const TEST_BACKEND = (process.env.CRAM_TEST_BACKEND ?? 'wasm') as 'wasm' | 'cpu';
export const ready = initBackend(TEST_BACKEND);
export const fixture = (rel: string) => fileURLToPath(new URL(`./fixtures/${rel}`, import.meta.url));
export const bundled = (name: string) => fileURLToPath(new URL(`../models/${name}`, import.meta.url));

export function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}

export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s) / l2(b);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s / (l2(a) * l2(b));
}

/** Shared test setup: one backend for the whole test process (wasm, as CI and the default run use). */
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/engine/backend.ts';

export const TEST_BACKEND = (process.env.CRAM_TEST_BACKEND ?? 'wasm') as 'wasm' | 'cpu';
export const ready = initBackend(TEST_BACKEND);
export const fixture = (rel: string) => fileURLToPath(new URL(`./fixtures/${rel}`, import.meta.url));
export const bundled = (name: string) => fileURLToPath(new URL(`../models/${name}`, import.meta.url));

export { cosine, l2, relErr, relL2 } from '../src/metrics/vector-compare.ts';

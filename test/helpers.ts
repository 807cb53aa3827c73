/** Shared test setup: one ONNX Runtime backend for the whole test process (the CPU provider, as CI has). */
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BackendChoice } from '../src/engine/backends.ts';
import { initRuntime } from '../src/engine/runtime.ts';
import { CompiledModel, openModel } from '../src/cram/compiled-model.ts';
import { loadModel } from '../src/models/load.ts';

export const TEST_BACKEND = (process.env.CRAM_TEST_BACKEND ?? 'cpu') as BackendChoice;
export const ready = initRuntime(TEST_BACKEND);
export const fixture = (rel: string) => fileURLToPath(new URL(`./fixtures/${rel}`, import.meta.url));
export const bundled = (name: string) => fileURLToPath(new URL(`../models/${name}`, import.meta.url));
/** One Hugging Face reference fixture, test/fixtures/hf/<name>/ (made by scripts/make_reference.py). */
export const hfFixture = (name: string) => fixture(`hf/${name}`);
/** The names of every Hugging Face reference fixture (folders of test/fixtures/hf/ with a config.json), sorted. */
export const hfFixtures = (): string[] =>
  readdirSync(fixture('hf'))
    .filter((n) => existsSync(hfFixture(`${n}/config.json`)))
    .sort();

/** A model opened on the test backend. */
export async function open(dir: string, opts: { tokenizer?: boolean } = {}) {
  await ready;
  return openModel(dir, { backend: TEST_BACKEND, tokenizer: opts.tokenizer });
}

/** A compiled model without its tokenizer. */
export async function compiled(dir: string): Promise<CompiledModel> {
  const rt = await ready;
  const loaded = await loadModel(dir, { tokenizer: false });
  return new CompiledModel(rt, loaded.model, loaded.weightsSha256);
}

export { cosine, l2, relErr, relL2 } from '../src/metrics/vector-compare.ts';

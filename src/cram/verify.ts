/**
 * `verify`: the project's numbers on a reference input, in the format of the bundled reference.json files, so a port
 * can be checked against Hugging Face transformers.
 */
import { readFileSync } from 'node:fs';
import type { LoadedModel } from '../models/load.ts';
import { cosine, relErr, relL2 } from '../metrics/vector-compare.ts';
import type { CompiledModel } from './compiled-model.ts';

export interface Reference {
  input_ids: number[];
  mem: number[];
  text?: string;
  [key: string]: unknown;
}

export interface VerifyResult {
  model: string;
  loss_no_mem: number;
  accuracy_no_mem: number;
  loss_with_mem: number;
  accuracy_with_mem: number;
  grad_mem: number[];
  embedding_std: number;
  token_ids?: number[];
  seconds: number;
}

export function readReference(path: string): Reference {
  let ref: Reference;
  try {
    ref = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read reference ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(ref.input_ids) || !Array.isArray(ref.mem))
    throw new Error(`${path} needs "input_ids" and "mem" arrays`);
  return ref;
}

export async function verify(loaded: LoadedModel, model: CompiledModel, ref: Reference): Promise<VerifyResult> {
  const out: VerifyResult = { model: loaded.name, ...(await verifyModel(model, ref)) };
  const n = ref.input_ids.length;
  if (typeof ref.text === 'string' && loaded.tokenizer) out.token_ids = loaded.tokenizer.encode(ref.text).slice(0, n);
  return out;
}

/** The numbers alone, for any compiled model (also one built in memory). */
export async function verifyModel(
  model: CompiledModel,
  ref: Reference,
): Promise<Omit<VerifyResult, 'model' | 'token_ids'>> {
  const lm = model.model;
  if (ref.mem.length !== lm.embedDim) {
    throw new Error(`reference mem has ${ref.mem.length} entries but the model takes vectors of ${lm.embedDim}`);
  }
  const t0 = performance.now();
  const n = ref.input_ids.length;
  const base = await model.objective(0, null, [ref.input_ids], false);
  const step = await model.objective(1, Float32Array.from(ref.mem), [ref.input_ids], true);
  return {
    loss_no_mem: base.loss[0],
    accuracy_no_mem: base.correct[0] / (n - 1),
    loss_with_mem: step.loss[0],
    accuracy_with_mem: step.correct[0] / (n - 1),
    grad_mem: Array.from(step.grad!),
    embedding_std: lm.embeddingStd(),
    seconds: (performance.now() - t0) / 1000,
  };
}

export interface ReferenceCheck {
  ok: boolean;
  failures: string[];
  loss_no_mem_rel: number;
  loss_with_mem_rel: number;
  grad_rel_l2: number;
  grad_cosine: number;
  embedding_std_rel: number | null;
}

/**
 * The acceptance rule for a port. `exact` references (float32 on CPU, the test/fixtures/hf ones): losses within 1e-5
 * relative, gradient relative L2 < 1e-4. Otherwise (the gutenberg references, made with TF32 matmuls): losses 1e-4,
 * gradient relative L2 < 5e-3 and cosine > 0.9999. Accuracies equal (to float32 rounding of k/(N−1)).
 */
export function checkAgainstReference(r: Omit<VerifyResult, 'model'>, ref: Reference, exact: boolean): ReferenceCheck {
  const g = ref.grad_mem as number[];
  const c: ReferenceCheck = {
    ok: true,
    failures: [],
    loss_no_mem_rel: relErr(r.loss_no_mem, ref.loss_no_mem as number),
    loss_with_mem_rel: relErr(r.loss_with_mem, ref.loss_with_mem as number),
    grad_rel_l2: relL2(r.grad_mem, g),
    grad_cosine: cosine(r.grad_mem, g),
    embedding_std_rel: typeof ref.embedding_std === 'number' ? relErr(r.embedding_std, ref.embedding_std) : null,
  };
  const lossTol = exact ? 1e-5 : 1e-4;
  if (!(c.loss_no_mem_rel < lossTol))
    c.failures.push(`loss_no_mem ${r.loss_no_mem} vs ${ref.loss_no_mem} (relative ${c.loss_no_mem_rel} ≥ ${lossTol})`);
  if (!(c.loss_with_mem_rel < lossTol))
    c.failures.push(
      `loss_with_mem ${r.loss_with_mem} vs ${ref.loss_with_mem} (relative ${c.loss_with_mem_rel} ≥ ${lossTol})`,
    );
  if (!(Math.abs(r.accuracy_no_mem - (ref.accuracy_no_mem as number)) < 1e-6))
    c.failures.push(`accuracy_no_mem ${r.accuracy_no_mem} vs ${ref.accuracy_no_mem}`);
  if (!(Math.abs(r.accuracy_with_mem - (ref.accuracy_with_mem as number)) < 1e-6))
    c.failures.push(`accuracy_with_mem ${r.accuracy_with_mem} vs ${ref.accuracy_with_mem}`);
  if (!(c.grad_rel_l2 < (exact ? 1e-4 : 5e-3))) c.failures.push(`gradient relative L2 error ${c.grad_rel_l2}`);
  if (!exact && !(c.grad_cosine > 0.9999)) c.failures.push(`gradient cosine ${c.grad_cosine}`);
  if (c.embedding_std_rel !== null && !(c.embedding_std_rel < 1e-5))
    c.failures.push(`embedding_std relative error ${c.embedding_std_rel}`);
  c.ok = c.failures.length === 0;
  return c;
}

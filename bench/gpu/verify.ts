/**
 * The harness against Hugging Face's own numbers on a backend: for each model folder with a reference.json, loss,
 * accuracy and mem gradient compared as the tests compare them. One JSON line per model. Used by the device check.
 *
 *   node bench/gpu/dist/verify.mjs --backend webgpu models/gutenberg-llama-s test/fixtures/hf/tiny-gpt2 …
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import type { BackendChoice } from '../../src/engine/backends.ts';
import { openModel } from '../../src/cram/compiled-model.ts';
import { checkAgainstReference, readReference, verify } from '../../src/cram/verify.ts';

const cmd = new Command()
  .option('--backend <name>', 'cpu | webgpu | cuda | auto', 'auto')
  .argument('<dirs...>')
  .parse();
const backend = cmd.opts().backend as BackendChoice;
for (const dir of cmd.args) {
  const file = join(dir, 'reference.json');
  if (!existsSync(file)) {
    process.stdout.write(JSON.stringify({ model: dir, skipped: 'no reference.json' }) + '\n');
    continue;
  }
  try {
    const ref = readReference(file);
    const loaded = await openModel(dir, { backend, tokenizer: false });
    const r = await verify(loaded, loaded.compiled, ref);
    // Fixtures under test/fixtures/hf/ are exact float32 CPU references; the bundled ones were made with TF32 matmuls.
    const check = checkAgainstReference(r, ref, /fixtures\/hf\//.test(dir));
    const { grad_mem: _g, model: _m, ...numbers } = r;
    process.stdout.write(
      JSON.stringify({
        model: dir,
        backend: loaded.compiled.runtime.name,
        ok: check.ok,
        failures: check.failures,
        ...numbers,
        loss_no_mem_rel: check.loss_no_mem_rel,
        loss_with_mem_rel: check.loss_with_mem_rel,
        grad_rel_l2: check.grad_rel_l2,
        grad_cosine: check.grad_cosine,
      }) + '\n',
    );
    await loaded.compiled.release();
  } catch (e) {
    process.stdout.write(JSON.stringify({ model: dir, ok: false, error: (e as Error).message.slice(0, 400) }) + '\n');
  }
}

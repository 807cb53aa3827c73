import { join } from 'node:path';
import type { Command } from 'commander';
import type { BackendChoice } from '../engine/backends.ts';
import { resolveModelDir } from '../paths/index.ts';
import { backendOption } from './options.ts';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('loss, accuracy and mem gradient on a reference input (format of reference.json), as one JSON object')
    .argument('<model>', 'model folder or bundled model name')
    .option('--reference <file>', 'reference JSON (default: <model>/reference.json)')
    .addOption(backendOption())
    .action(async (modelArg: string, opts: { reference?: string; backend: BackendChoice }) => {
      const { openModel } = await import('../cram/compiled-model.ts');
      const { readReference, verify } = await import('../cram/verify.ts');
      const dir = resolveModelDir(modelArg);
      const ref = readReference(opts.reference ?? join(dir, 'reference.json'));
      const loaded = await openModel(dir, { backend: opts.backend, tokenizer: typeof ref.text === 'string' });
      const result = await verify(loaded, loaded.compiled, ref);
      process.stdout.write(JSON.stringify({ ...result, backend: loaded.compiled.runtime.name }) + '\n');
      await loaded.compiled.release();
    });
}

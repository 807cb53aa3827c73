/**
 * `cram doctor` for the device check: per graph (objective, baseline, decode, one-step) of each model given, the
 * nodes the chosen provider did not take and the bytes crossing host ↔ device per call. One JSON line per model.
 *
 *   node bench/gpu/dist/doctor.mjs --backend webgpu --tokens 64 --batch 4 models/gutenberg-llama-m …
 */
import { Command } from 'commander';
import type { BackendChoice } from '../../src/engine/backends.ts';
import { initRuntime } from '../../src/engine/runtime.ts';
import { loadModel } from '../../src/models/load.ts';
import { placementReport } from '../../src/cli/doctor-command.ts';

const cmd = new Command()
  .option('--backend <name>', 'cpu | webgpu | cuda | auto', 'webgpu')
  .option('--tokens <n>', 'tokens per text', '64')
  .option('--batch <n>', 'texts per call', '4')
  .argument('<dirs...>')
  .parse();
const o = cmd.opts();
const rt = await initRuntime(o.backend as BackendChoice);
for (const dir of cmd.args) {
  try {
    const loaded = await loadModel(dir, { tokenizer: false });
    const r = await placementReport(rt, loaded, { batch: Number(o.batch), tokens: Number(o.tokens), mem: 1 });
    process.stdout.write(JSON.stringify({ kind: 'doctor', ...r }) + '\n');
  } catch (e) {
    process.stdout.write(
      JSON.stringify({ kind: 'doctor', model: dir, error: (e as Error).message.slice(0, 400) }) + '\n',
    );
  }
}

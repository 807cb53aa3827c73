/**
 * Device benchmark entry (bundled by build.sh into dist/bench.mjs, so it runs without node_modules):
 *
 *   node dist/bench.mjs throughput --model <dir|random:gpt2-small> --tokens 64,512 --batches 1,4,16 --steps 10 --backend webgpu
 *   node dist/bench.mjs verify <model-dir> [--reference <file>] [--exact] --backend webgpu
 *   node dist/bench.mjs info --backend webgpu
 *
 * throughput: text·steps/s of the cramming step (forward, backward to the [mem] vectors, AdamW) for B texts at once,
 * exactly the step of src/cram/engine.ts (memObjectiveAndGrad + adamwStep + one readback of loss/accuracy per step),
 * but with async readbacks (webgpu in Node cannot dataSync) and no early stopping. One JSON object per line.
 */
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendChoice } from '../../src/engine/backend.ts';
import { cramAll, PAPER_SETTINGS, type CramJob } from '../../src/cram/engine.ts';
import { benchModel } from './models.ts';
import { checkAgainstReference, readReference, verifyModel } from '../../src/cram/verify.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where model folders are looked up: next to the bundle (dist/models), bench/gpu/models, the project's models/. */
const SEARCH = [join(HERE, 'models'), join(HERE, '..', 'models'), join(HERE, '..', '..', 'models'), join(HERE, '..', '..', '..', 'models')];

function parseArgs(argv: string[]): { cmd: string; pos: string[]; opt: Record<string, string | true> } {
  const [cmd = 'help', ...rest] = argv;
  const pos: string[] = [];
  const opt: Record<string, string | true> = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a.startsWith('--')) {
      const next = rest[i + 1];
      if (next === undefined || next.startsWith('--')) opt[a.slice(2)] = true;
      else { opt[a.slice(2)] = next; i++; }
    } else pos.push(a);
  }
  return { cmd, pos, opt };
}

const emit = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n');
const list = (v: string | true | undefined, dflt: string) => String(v === undefined || v === true ? dflt : v).split(',').map(Number);

async function startBackend(name: string) {
  const b = await initBackend(name as BackendChoice);
  const extra: Record<string, unknown> = {};
  if (b.name === 'webgpu') {
    const { webgpuInfo } = await import('../../src/engine/webgpu.ts');
    const i = webgpuInfo();
    if (i) Object.assign(extra, { adapter: i.adapter, max_storage_binding_bytes: i.maxStorageBufferBindingSize, max_buffer_bytes: i.maxBufferSize, tfjs_flags: i.flags });
  }
  return { backend: b.name, backend_detail: b.detail, ...extra };
}

async function stop(): Promise<void> {
  if (tf.getBackend() === 'webgpu') (await import('../../src/engine/webgpu.ts')).shutdownWebgpu();
}

async function throughput(opt: Record<string, string | true>): Promise<void> {
  const be = await startBackend(String(opt.backend ?? 'auto'));
  const spec = String(opt.model ?? 'gutenberg-llama-s');
  const tLoad = performance.now();
  const { model, name } = benchModel(spec, SEARCH);
  const loadS = (performance.now() - tLoad) / 1000;
  const K = Number(opt.mem ?? 1);
  const steps = Number(opt.steps ?? 10);
  const warmup = Number(opt.warmup ?? 2);
  const budget = Number(opt['time-limit'] ?? Infinity); // seconds for the whole sweep of this model
  const maxTokens = Number(opt['max-batch-tokens'] ?? Infinity);
  const t0 = performance.now();
  let seed = 1;
  for (const N of list(opt.tokens, '64')) {
    for (const B of list(opt.batches, '1,4,16')) {
      const elapsed = (performance.now() - t0) / 1000;
      const base = { model: name, tokens: N, n_mem: K, batch: B, ...be, load_s: Number(loadS.toFixed(2)) };
      if (B * (N + K) > maxTokens) { emit({ ...base, skipped: `batch·(tokens+mem) ${B * (N + K)} > --max-batch-tokens ${maxTokens}` }); continue; }
      if (elapsed > budget) { emit({ ...base, skipped: `time limit ${budget}s reached` }); continue; }
      if (N + K > model.maxPositions) { emit({ ...base, skipped: `exceeds ${model.maxPositions} positions` }); continue; }
      try {
        emit({ ...base, ...(await timeSteps(model, K, N, B, warmup, steps, seed++)) });
      } catch (e) {
        emit({ ...base, error: (e as Error).message.split('\n')[0].slice(0, 300) });
      }
    }
  }
  model.dispose();
}

/** The real engine (src/cram/engine.ts) for B texts that never stop early: warm-up steps, then timed steps. */
async function timeSteps(model: ReturnType<typeof benchModel>['model'], K: number, N: number, B: number,
  warmup: number, steps: number, seed: number): Promise<Record<string, unknown>> {
  let x = seed * 7919;
  const rnd = () => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648; };
  const jobs = (tag: string): CramJob[] => Array.from({ length: B }, (_, i) => ({
    key: `${tag}-${seed}-${i}`, nMem: K, ids: [0, ...Array.from({ length: N - 1 }, () => 2 + Math.floor(rnd() * (model.numEmbeddings - 2)))],
  }));
  const settings = (S: number) => ({ ...PAPER_SETTINGS, maxSteps: S, patience: S + 1, maxBatch: B, maxBatchTokens: B * (N + K) });
  let lastLoss = NaN;
  const tw = performance.now();
  if (warmup > 0) await cramAll(model, jobs('warm'), settings(warmup));
  const warmupS = (performance.now() - tw) / 1000;
  const tensorsStart = tf.memory().numTensors;
  const ts = performance.now();
  await cramAll(model, jobs('timed'), settings(steps), { onFinish: (o) => { lastLoss = o.bestLoss; } });
  const seconds = (performance.now() - ts) / 1000;
  return {
    steps, warmup, text_steps_per_s: Number(((B * steps) / seconds).toFixed(3)), seconds_per_step: Number((seconds / steps).toFixed(4)),
    warmup_s: Number(warmupS.toFixed(2)), last_loss: Number(lastLoss.toFixed(4)), tensors_leaked: tf.memory().numTensors - tensorsStart,
    peak_rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20), machine: `${cpus().length}x ${cpus()[0]?.model?.trim() ?? 'cpu'}`,
  };
}

async function verifyCmd(pos: string[], opt: Record<string, string | true>): Promise<boolean> {
  const be = await startBackend(String(opt.backend ?? 'auto'));
  const spec = pos[0];
  if (!spec) throw new Error('verify needs a model folder');
  const { model, name, dir } = benchModel(spec, SEARCH);
  const ref = readReference(typeof opt.reference === 'string' ? opt.reference : join(dir!, 'reference.json'));
  const r = await verifyModel(model, ref);
  const c = checkAgainstReference(r, ref, opt.exact === true);
  emit({ kind: 'verify', model: name, ...be, exact: opt.exact === true, seconds: Number(r.seconds.toFixed(2)),
    loss_no_mem: r.loss_no_mem, ref_loss_no_mem: ref.loss_no_mem, loss_with_mem: r.loss_with_mem, ref_loss_with_mem: ref.loss_with_mem,
    accuracy_no_mem: r.accuracy_no_mem, accuracy_with_mem: r.accuracy_with_mem, ...c });
  model.dispose();
  return c.ok;
}

const { cmd, pos, opt } = parseArgs(process.argv.slice(2));
let code = 0;
try {
  if (cmd === 'throughput') await throughput(opt);
  else if (cmd === 'verify') code = (await verifyCmd(pos, opt)) ? 0 : 1;
  else if (cmd === 'info') emit({ kind: 'info', ...(await startBackend(String(opt.backend ?? 'auto'))), node: process.version });
  else {
    process.stderr.write('usage: bench.mjs throughput|verify|info [options] (see bench/gpu/README.md)\n');
    code = cmd === 'help' ? 0 : 2;
  }
} catch (e) {
  process.stderr.write(`gpu-bench: ${(e as Error).stack ?? e}\n`);
  code = 1;
}
await stop();
process.exit(code);

/**
 * Cramming throughput: text·steps per second (one step = forward, backward to the [mem] vectors, AdamW) at several
 * batch sizes, plus peak memory and a leak check. Not a test: it prints numbers and the machine they came from.
 *
 *   npm run bench [-- --model gutenberg-llama-s --tokens 64 --mem 1 --batches 1,4,16,64 --steps 20 --backend wasm --json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendChoice } from '../src/engine/backend.ts';
import { loadModel, PROJECT_ROOT } from '../src/models/load.ts';
import { cramAll, PAPER_SETTINGS, type CramJob } from '../src/cram/engine.ts';

const opts = new Command()
  .option('--model <name>', 'model folder or bundled name', 'gutenberg-llama-s')
  .option('--tokens <n>', 'tokens per text (BOS included)', '64')
  .option('--mem <k>', '[mem] vectors per text', '1')
  .option('--batches <list>', 'batch sizes', '1,4,16,64')
  .option('--steps <n>', 'optimisation steps timed per batch size (after 2 warm-up steps)', '20')
  .option('--backend <name>', 'tensor backend', 'auto')
  .option('--json', 'one JSON object per line instead of a table')
  .option('--no-save', 'do not write bench/results/')
  .parse()
  .opts();

const backend = await initBackend(opts.backend as BackendChoice);
const { model, name } = await loadModel(opts.model, { tokenizer: false });
const N = Number(opts.tokens);
const K = Number(opts.mem);
const steps = Number(opts.steps);
const rng = seedrandom('bench');
const machine = `${cpus().length}x ${cpus()[0]?.model?.trim() ?? 'cpu'}`;
let peakRss = process.memoryUsage().rss;
const sampleRss = () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); };

const jobsFor = (B: number, tag: string): CramJob[] => Array.from({ length: B }, (_, i) => ({
  key: `${tag}-${i}`, nMem: K,
  ids: [0, ...Array.from({ length: N - 1 }, () => 2 + Math.floor(rng() * (model.numEmbeddings - 2)))],
}));
// Never solved, never patient: every text runs exactly the requested number of steps.
const settingsFor = (B: number, S: number) => ({ ...PAPER_SETTINGS, maxSteps: S, patience: S + 1, maxBatch: B, maxBatchTokens: B * (N + K) });

const rows: Record<string, unknown>[] = [];
for (const B of String(opts.batches).split(',').map(Number)) {
  await cramAll(model, jobsFor(B, 'warm'), settingsFor(B, 2));
  const tensorsBefore = tf.memory().numTensors;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  await cramAll(model, jobsFor(B, 'timed'), settingsFor(B, steps), { onStep: sampleRss });
  const seconds = (performance.now() - t0) / 1000;
  sampleRss();
  const row = {
    model: name, backend: backend.name, backend_detail: backend.detail, tokens: N, n_mem: K, batch: B, steps,
    text_steps_per_s: Number(((B * steps) / seconds).toFixed(2)), seconds_per_step: Number((seconds / steps).toFixed(4)),
    peak_rss_mb: Math.round(peakRss / 2 ** 20), rss_start_mb: Math.round(rssBefore / 2 ** 20), rss_end_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
    tensors_start: tensorsBefore, tensors_end: tf.memory().numTensors, machine,
  };
  rows.push(row);
  if (opts.json) process.stdout.write(JSON.stringify(row) + '\n');
  else process.stderr.write(`batch ${B}: ${row.text_steps_per_s} text·steps/s\n`);
}
if (!opts.json) {
  console.log(`\n${name}, ${N} tokens, K=${K}, backend ${backend.name} (${backend.detail}), ${machine}\n`);
  console.log('| batch | text·steps/s | s/step | peak RSS MB | tensors start→end | RSS start→end MB |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.batch} | ${r.text_steps_per_s} | ${r.seconds_per_step} | ${r.peak_rss_mb} | ${r.tensors_start}→${r.tensors_end} | ${r.rss_start_mb}→${r.rss_end_mb} |`);
}
if (opts.save) {
  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().slice(0, 10)}-${machine.replace(/[^\w.]+/g, '-')}-${backend.name}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, cpus: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version, rows }, null, 1) + '\n');
  process.stderr.write(`wrote ${file}\n`);
}
model.dispose();

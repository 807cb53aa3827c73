/**
 * Cramming throughput: text·steps per second (one step = forward, backward to the [mem] vectors, AdamW, the loss and
 * accuracy read back) at several batch sizes, with peak memory, next to the PyTorch peer measured in the same run on
 * the same model files when torch is installed. Not a test: it prints numbers and the machine they came from.
 *
 *   npm run bench [-- --model gutenberg-llama-s --tokens 64 --mem 1 --batches 1,4,16,64 --steps 20 --peer]
 *   npm run bench -- --model shape:gpt2-small --tokens 128 --batches 1,4 --peer
 *   npm run bench -- --model shape:gpt2-small --tokens 128 --batches 1,4 --precision float32,bfloat16 --peer
 *
 * `--model shape:<name>` builds a random-weight model of a real shape (bench/shapes.ts: gpt2-small, pythia-160m,
 * mamba-130m, llama-3.2-1b) once, in the cache. `--peer` runs bench/peer/pytorch_step.py with $CRAM_PYTHON (default python3).
 * `--precision` (a list) measures each precision of the matrix products, and the peer under torch.autocast with the
 * same types (float32: no autocast); ratios compare rows of the same precision.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import seedrandom from 'seedrandom';
import type { BackendChoice } from '../src/engine/backends.ts';
import { openModel } from '../src/cram/compiled-model.ts';
import { cramAll, PAPER_SETTINGS, type CramJob } from '../src/cram/cram.ts';
import { PROJECT_ROOT } from '../src/paths/index.ts';
import { MACHINE as machine, numberList, saveResults, withCommonOptions } from './common.ts';
import { ensureShapeModel } from './shapes.ts';
import { resolveModelDir } from '../src/paths/index.ts';
import { cramFields, cramPrecision } from '../src/config/settings.ts';
import type { Precision } from '../src/engine/precision.ts';

const opts = withCommonOptions(
  new Command()
    .option(
      '--model <name>',
      'bundled name, model folder, or shape:<gpt2-small|pythia-160m|mamba-130m|llama-3.2-1b>',
      'gutenberg-llama-s',
    )
    .option('--tokens <list>', 'tokens per text (BOS included)', '64')
    .option('--mem <k>', '[mem] vectors per text', '1')
    .option('--batches <list>', 'batch sizes', '1,4,16,64')
    .option('--steps <n>', 'optimisation steps timed per point (after 2 warm-up steps)', '20')
    .option(
      '--precision <list>',
      'precisions of the matrix products: float32, bfloat16, float16 (comma list)',
      'float32',
    )
    .option('--peer', 'also run the PyTorch peer (bench/peer/pytorch_step.py) in this run')
    .option('--peer-batches <list>', 'batch sizes for the batched PyTorch loop (default: --batches)'),
)
  .parse()
  .opts();

const modelArg = String(opts.model);
// The folder itself (a bundled name or an org/name resolved the way the harness resolves it), for the peer too.
const dir = modelArg.startsWith('shape:') ? ensureShapeModel(modelArg.slice(6)) : resolveModelDir(modelArg);
const precisions = String(opts.precision)
  .split(',')
  .map((p) => cramPrecision(cramFields({ precision: p as Precision }, 'bench', { precision: '--precision' })));
let loaded = await openModel(dir, {
  backend: opts.backend as BackendChoice,
  tokenizer: false,
  precision: precisions[0],
});
let engine = loaded.compiled;
const label = modelArg.startsWith('shape:') ? `${modelArg.slice(6)} (random weights)` : loaded.name;
const K = Number(opts.mem);
const steps = Number(opts.steps);
const rng = seedrandom('bench');
let peakRss = process.memoryUsage().rss;
const sampleRss = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};

const jobsFor = (B: number, N: number, tag: string): CramJob[] =>
  Array.from({ length: B }, (_, i) => ({
    key: `${tag}-${i}`,
    nMem: K,
    ids: [0, ...Array.from({ length: N - 1 }, () => 2 + Math.floor(rng() * (loaded.model.numEmbeddings - 2)))],
  }));
// Never solved, never patient: every text runs exactly the requested number of steps.
const settingsFor = (B: number, N: number, S: number) => ({
  ...PAPER_SETTINGS,
  maxSteps: S,
  patience: S + 1,
  maxBatch: B,
  maxBatchTokens: B * (N + K),
});

const rows: Record<string, unknown>[] = [];
const emit = (row: Record<string, unknown>) => {
  rows.push(row);
  if (opts.json) process.stdout.write(JSON.stringify(row) + '\n');
};
for (const precision of precisions) {
  if (precision !== engine.precision) {
    await engine.release();
    loaded = await openModel(dir, { backend: opts.backend as BackendChoice, tokenizer: false, precision });
    engine = loaded.compiled;
  }
  for (const N of numberList(opts.tokens)) {
    for (const B of numberList(opts.batches)) {
      try {
        const t00 = performance.now();
        await cramAll(engine, jobsFor(B, N, 'warm'), settingsFor(B, N, 2));
        const warmS = (performance.now() - t00) / 1000;
        peakRss = process.memoryUsage().rss;
        const rssBefore = peakRss;
        const S = Math.max(3, Math.min(steps, Math.ceil(60 / Math.max(warmS / 2, 1e-3))));
        const loadStart = loadavg()[0];
        const t0 = performance.now();
        await cramAll(engine, jobsFor(B, N, 'timed'), settingsFor(B, N, S), { onStep: sampleRss });
        const seconds = (performance.now() - t0) / 1000;
        sampleRss();
        emit({
          kind: 'harness',
          model: label,
          backend: engine.runtime.name,
          backend_detail: engine.runtime.detail,
          precision,
          tokens: N,
          n_mem: K,
          batch: B,
          steps: S,
          text_steps_per_s: Number(((B * S) / seconds).toFixed(3)),
          seconds_per_step: Number((seconds / S).toFixed(4)),
          peak_rss_mb: Math.round(peakRss / 2 ** 20),
          rss_start_mb: Math.round(rssBefore / 2 ** 20),
          machine,
          // The machine's 1-minute load average before and after the timed steps (other jobs slow a shared machine down).
          load_start: Number(loadStart.toFixed(2)),
          load_end: Number(loadavg()[0].toFixed(2)),
        });
        if (!opts.json)
          process.stderr.write(
            `harness ${label} ${precision} N=${N} batch ${B}: ${rows[rows.length - 1].text_steps_per_s} text·steps/s, ${rows[rows.length - 1].seconds_per_step} s/step, peak RSS ${rows[rows.length - 1].peak_rss_mb} MB, load ${rows[rows.length - 1].load_start}→${rows[rows.length - 1].load_end}\n`,
          );
      } catch (e) {
        emit({
          kind: 'harness',
          model: label,
          precision,
          tokens: N,
          batch: B,
          error: (e as Error).message.slice(0, 200),
        });
        if (!opts.json) process.stderr.write(`harness N=${N} batch ${B}: ${(e as Error).message.slice(0, 200)}\n`);
      }
    }
  }
}
await engine.release();

if (opts.peer) {
  const python = process.env.CRAM_PYTHON ?? 'python3';
  process.stderr.write(`PyTorch peer (${python}) on ${dir}…\n`);
  const r = spawnSync(
    python,
    [
      join(PROJECT_ROOT, 'bench', 'peer', 'pytorch_step.py'),
      '--model',
      dir,
      '--tokens',
      String(opts.tokens),
      '--batches',
      String(opts.peerBatches ?? opts.batches),
      '--mem',
      String(K),
      '--steps',
      String(Math.min(steps, 20)),
      '--autocast',
      precisions.join(','),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0) process.stderr.write(`peer failed: ${r.stderr.slice(-500)}\n`);
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    try {
      const row = JSON.parse(line);
      emit({ ...row, model: label, machine });
      if (!opts.json && row.text_steps_per_s)
        process.stderr.write(
          `pytorch ${row.loop} ${row.precision ?? 'float32'} N=${row.tokens} batch ${row.batch}: ${row.text_steps_per_s} text·steps/s\n`,
        );
      if (!opts.json && row.skipped) process.stderr.write(`pytorch skipped: ${row.skipped}\n`);
    } catch {
      /* a stray line */
    }
  }
}

const harness = rows.filter((r) => r.kind === 'harness' && typeof r.text_steps_per_s === 'number');
const peer = rows.filter((r) => r.kind === 'pytorch' && typeof r.text_steps_per_s === 'number');
// Peer rows of the same precision (a peer row without one is float32).
const same = (p: Record<string, unknown>, P: unknown) => (p.precision ?? 'float32') === P;
const official = (N: unknown, P: unknown = 'float32') =>
  peer.find((p) => p.loop === 'official' && p.tokens === N && same(p, P))?.text_steps_per_s as number | undefined;
const batched = (N: unknown, B: unknown, P: unknown = 'float32') =>
  peer.find((p) => p.loop === 'batched' && p.tokens === N && p.batch === B && same(p, P))?.text_steps_per_s as
    number | undefined;
const bestPeerBatched = (N: unknown, P: unknown) =>
  Math.max(
    0,
    ...peer
      .filter((p) => p.loop === 'batched' && p.tokens === N && same(p, P))
      .map((p) => p.text_steps_per_s as number),
  );
for (const r of harness) {
  const o = official(r.tokens, r.precision);
  const b = batched(r.tokens, r.batch, r.precision);
  if (o) r.ratio_to_official_batch1 = Number(((r.text_steps_per_s as number) / o).toFixed(2));
  if (b) r.ratio_to_pytorch_batched_same_batch = Number(((r.text_steps_per_s as number) / b).toFixed(2));
  const best = bestPeerBatched(r.tokens, r.precision);
  if (best > 0) r.ratio_to_pytorch_best_batched = Number(((r.text_steps_per_s as number) / best).toFixed(2));
}
if (!opts.json) {
  console.log(`\n${label}, K=${K}, backend ${harness[0]?.backend_detail ?? opts.backend}, ${machine}\n`);
  console.log(
    '| precision | tokens | batch | harness text·steps/s | s/step | peak RSS MB | PyTorch official (b=1) | PyTorch batched (same b) | harness / official | harness / PyTorch batched |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of harness) {
    console.log(
      `| ${r.precision} | ${r.tokens} | ${r.batch} | ${r.text_steps_per_s} | ${r.seconds_per_step} | ${r.peak_rss_mb} | ${official(r.tokens, r.precision) ?? '–'} | ` +
        `${batched(r.tokens, r.batch, r.precision) ?? '–'} | ${r.ratio_to_official_batch1 ?? '–'} | ${r.ratio_to_pytorch_batched_same_batch ?? '–'} |`,
    );
  }
}
if (opts.save) {
  const tag = precisions.length === 1 && precisions[0] === 'float32' ? '' : `-${precisions.join('+')}`;
  const name = `${machine.replace(/[^\w.]+/g, '-')}-${engine.runtime.name}-${label.split(' ')[0]}${tag}`;
  const file = saveResults(name, rows);
  process.stderr.write(`wrote ${file}\n`);
}

/**
 * Runs an experiment config: plans every (model, source, length, K, text), crams them through the batched engine,
 * and writes results/<run>/ as texts finish. Re-running the same command resumes: finished texts (samples.jsonl) are
 * skipped, nothing is repeated or lost, even after kill -9.
 *
 *   npm run experiment [-- configs/<name>.yaml] [--quiet]
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { initBackend } from '../src/engine/backend.ts';
import { loadConfig } from '../src/config/load-config.ts';
import type { ExperimentConfig } from '../src/config/schema.ts';
import { cramAll, type CramOutcome } from '../src/cram/engine.ts';
import { regenerate } from '../src/cram/regenerate.ts';
import { idsSha256, sha256, writeVectorFile } from '../src/cram/vector-file.ts';
import { loadModel, resolveModelDir, PROJECT_ROOT } from '../src/models/load.ts';
import { checkFits } from '../src/cram/fits.ts';
import { openModel } from '../src/cram/compiled-model.ts';
import { textMetrics } from '../src/metrics/text-metrics.ts';
import { describeEnvironment } from '../src/results/environment.ts';
import { RunFolder } from '../src/results/run-folder.ts';
import type { SampleRecord } from '../src/results/sample-record.ts';
import { writeReport } from '../src/report/report.ts';
import { RunProgress } from '../src/cli/progress-bar.ts';
import { jobKey, planModel, sourceSpec, type PlannedJob } from './capacity-sweep.ts';

export const DEFAULT_CONFIG = join(PROJECT_ROOT, 'configs', 'quick.yaml');

/** Fields that decide the results: a folder made with other values cannot be resumed. */
function identity(c: ExperimentConfig): Record<string, unknown> {
  const { backend: _b, batch: _ba, output_dir: _o, description: _d, ...rest } = c;
  return rest;
}

function checkResumable(run: RunFolder, config: ExperimentConfig): void {
  const file = run.path('config.yaml');
  if (!existsSync(file)) return;
  const previous = identity(YAML.parse(readFileSync(file, 'utf8')) as ExperimentConfig);
  const now = identity(config);
  const differing = Object.keys({ ...previous, ...now }).filter((k) => JSON.stringify(previous[k]) !== JSON.stringify(now[k]));
  if (differing.length > 0) {
    throw new Error(`${run.dir} holds a run made with a different ${differing.join(', ')}; give this config another name (or move that folder away) so no finished result is mixed up or lost`);
  }
}

/** Everything a run needs must exist before any work starts. */
function preflight(config: ExperimentConfig): void {
  for (const m of config.models) resolveModelDir(m);
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    if (spec.path && !existsSync(spec.path)) throw new Error(`source file ${spec.path} does not exist`);
  }
}

/**
 * The known limits of every model before any work (src/cram/fits.ts): the config's longest input ([mem] vectors + the
 * longest length) against the model's positions, its batches and weights against the backend's memory.
 */
async function checkModelsFit(config: ExperimentConfig, backend: string): Promise<void> {
  const random = config.sources.some((s) => sourceSpec(s).kind === 'random-words');
  const longestText = Math.max(...config.lengths, random ? (config.random_max_length ?? 0) : 0);
  const maxTokens = longestText + Math.max(...config.n_mem);
  const batchTokens = Math.max(maxTokens, Math.min(config.batch.max_tokens, config.batch.max_texts * maxTokens));
  for (const m of config.models) {
    const { model, name } = await loadModel(m, { tokenizer: false, fingerprint: false });
    checkFits(model, backend, {
      name, maxTokens, batchTokens,
      tokensFrom: `the config (texts up to ${longestText} tokens${random ? ', random words included' : ''} + ${Math.max(...config.n_mem)} vectors)`,
    });
  }
}

export interface ExperimentResult { runDir: string; records: SampleRecord[]; ranNow: number; interrupted: boolean }

export async function runExperiment(configPath: string, opts: { quiet?: boolean; stopAfter?: number } = {}): Promise<ExperimentResult> {
  const config = loadConfig(configPath);
  preflight(config);
  const backend = await initBackend(config.backend);
  await checkModelsFit(config, backend.name);
  const run = new RunFolder(resolve(config.output_dir, config.name));
  checkResumable(run, config);
  const log = (s: string) => { if (!opts.quiet) process.stderr.write(`${s}\n`); };
  run.writeAtomic('config.yaml', YAML.stringify(config));
  const environment = { ...describeEnvironment(backend), config_file: relative(process.cwd(), resolve(configPath)), started: new Date().toISOString() };
  run.writeAtomic('environment.json', JSON.stringify(environment, null, 2) + '\n');

  const done = new Set(run.readSamples((line) => log(`samples.jsonl line ${line} is incomplete (interrupted write); that text runs again`))
    .map((r) => jobKey(r.model, r.source, r.length, r.n_mem, r.sample_index)));
  log(`run ${config.name} → ${run.dir} (backend ${backend.name}: ${backend.detail})`);
  const t0 = performance.now();
  let ranNow = 0;
  let interrupted = false;
  const onSignal = () => { interrupted = true; log('\nstopping after the current step; finished texts are saved, re-run the same command to resume'); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const modelName of config.models) {
      if (interrupted) break;
      const loaded = await openModel(modelName, { backend: config.backend });
      if (!loaded.tokenizer) throw new Error(`${modelName} has no tokenizer`);
      const planned = planModel(config, loaded.name, loaded.tokenizer);
      const todo = planned.filter((j) => !done.has(j.key));
      log(`${loaded.name}: ${planned.length} texts planned, ${planned.length - todo.length} already done, ${todo.length} to run`);
      const byKey = new Map<string, PlannedJob>(todo.map((j) => [j.key, j]));
      const progress = new RunProgress(planned.length, planned.length - todo.length, opts.quiet);
      let finishedHere = 0;
      await cramAll(loaded.engine, todo, {
        optimizer: { lr: config.optimizer.lr, beta1: config.optimizer.beta1, beta2: config.optimizer.beta2, eps: config.optimizer.eps, weightDecay: config.optimizer.weight_decay },
        maxSteps: config.max_steps, patience: config.patience, maxBatch: config.batch.max_texts, maxBatchTokens: config.batch.max_tokens,
        recordTrajectory: todo.some((j) => j.recordCurve),
      }, {
        shouldStop: () => interrupted || (opts.stopAfter !== undefined && ranNow >= opts.stopAfter),
        onStep: (p) => progress.update({ done: planned.length - todo.length + finishedHere, total: planned.length, accuracy: p.meanAccuracy, active: p.active, detail: `${loaded.name} K=${todo[0]?.nMem ?? '-'}…` }),
        onFinish: async (o: CramOutcome) => {
          const job = byKey.get(o.key)!;
          const regen = config.regenerate ? await regenerate(loaded.engine, o.memory, o.nMem, job.ids) : null;
          const vectorFile = join('vectors', job.model, job.source.replace(/[^\w.-]+/g, '_'), `K${o.nMem}`, `L${job.length}-i${job.sampleIndex}.safetensors`);
          if (config.save_vectors) {
            mkdirSync(dirname(run.path(vectorFile)), { recursive: true });
            writeVectorFile(run.path(vectorFile), o.memory, {
              model: loaded.name, model_sha256: loaded.weightsSha256, tokenizer_sha256: loaded.tokenizer!.fingerprint,
              n_mem: o.nMem, embed_dim: o.embedDim, n_tokens: o.nTokens, ids_sha256: idsSha256(job.ids),
              text_sha256: sha256(loaded.tokenizer!.decode(job.ids)), extra: { run: config.name, source: job.source, length: job.length, sample_index: job.sampleIndex },
            });
          }
          const m = textMetrics({ nTokens: o.nTokens, originalLoss: o.originalLoss, originalAccuracy: o.originalAccuracy, bestLoss: o.bestLoss, bestAccuracy: o.bestAccuracy });
          run.appendSample({
            run: config.name, model: job.model, source: job.source, length: job.length, n_tokens: o.nTokens, n_mem: o.nMem,
            sample_index: job.sampleIndex, seed: config.seed, original_loss: o.originalLoss, original_accuracy: o.originalAccuracy,
            best_loss: o.bestLoss, best_accuracy: o.bestAccuracy, loss_at_best_accuracy: o.lossAtBestAccuracy,
            original_ce: m.original_ce_paper, compressed_ce: m.compressed_ce_paper, info_gain_nats: m.info_gain_nats, info_gain_bits: m.info_gain_bits,
            token_gain: m.token_gain, steps: o.steps, best_step: o.bestStep, stop_reason: o.stopReason,
            regenerated_exact: regen?.regenerated_exact ?? false, regenerated_prefix_tokens: regen?.regenerated_prefix_tokens ?? -1,
            seconds: o.seconds, embed_dim: o.embedDim, embedding_rows: loaded.model.numEmbeddings, ids_sha256: idsSha256(job.ids),
            vector_file: config.save_vectors ? vectorFile : '',
          });
          if (job.recordCurve && o.trajectory) {
            run.appendCurve({ model: job.model, source: job.source, length: job.length, n_mem: o.nMem, sample_index: job.sampleIndex, ...o.trajectory });
          }
          ranNow++;
          finishedHere++;
        },
      });
      progress.stop();
      await loaded.engine.release();
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const seconds = (performance.now() - t0) / 1000;
  const stopped = interrupted || (opts.stopAfter !== undefined && ranNow >= opts.stopAfter);
  run.appendSession({ started: environment.started, seconds, texts: ranNow, backend: backend.name, interrupted: stopped });
  const records = run.readSamples();
  run.writeResultsCsv(records);
  if (records.length > 0) {
    const report = await writeRunReport(run);
    log(`report: ${relative(process.cwd(), report.markdown)} and ${relative(process.cwd(), report.html)}`);
  }
  log(`${ranNow} texts crammed in ${seconds.toFixed(0)} s; ${records.length} in ${relative(process.cwd(), run.path('results.csv'))}`);
  return { runDir: run.dir, records, ranNow, interrupted: stopped };
}

/** (Re)writes a run's report from its folder alone: results.csv, figures, tables, report.md/html. */
export async function writeRunReport(run: RunFolder) {
  const records = run.readSamples();
  if (records.length === 0) throw new Error(`${run.dir} has no finished texts yet (samples.jsonl is empty or missing)`);
  run.writeResultsCsv(records);
  const read = (name: string) => (existsSync(run.path(name)) ? readFileSync(run.path(name), 'utf8') : null);
  const configText = read('config.yaml');
  const envText = read('environment.json');
  return writeReport(run.dir, {
    records, curves: run.readCurves(), config: configText ? YAML.parse(configText) : undefined,
    environment: envText ? JSON.parse(envText) : undefined, wallSeconds: run.wallSeconds(), title: `Run ${basename(run.dir)}`,
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const config = args.find((a) => !a.startsWith('--')) ?? DEFAULT_CONFIG;
  runExperiment(config, { quiet: args.includes('--quiet') })
    .then((r) => { if (r.interrupted) process.exitCode = 130; })
    .catch((e: unknown) => {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    });
}

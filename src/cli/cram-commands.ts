/** `cram run` (one text → trained vectors + metrics) and `cram eval` (saved vectors → accuracy, regeneration). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { BackendChoice } from '../engine/backend.ts';
import { PROJECT_ROOT, type LoadedModel } from '../models/load.ts';
import { openModel } from '../cram/compiled-model.ts';
import { evaluateVectors, PAPER_SETTINGS, type CramSettings } from '../cram/engine.ts';
import { regenerate } from '../cram/regenerate.ts';
import { cramText } from '../cram/single.ts';
import { idsSha256, readVectorFile } from '../cram/vector-file.ts';
import { backendOption, positiveInt, positiveNumber } from './options.ts';
import { formatSeconds, ProgressLine } from './progress-line.ts';

interface TextOpts { text?: string; textFile?: string; length?: string }

function readText(o: TextOpts): string {
  if ((o.text === undefined) === (o.textFile === undefined)) throw new Error('give exactly one of --text <string> or --text-file <file>');
  if (o.textFile !== undefined) {
    if (!existsSync(o.textFile)) throw new Error(`--text-file ${o.textFile} does not exist`);
    return readFileSync(o.textFile, 'utf8');
  }
  return o.text!;
}

function tokenize(loaded: LoadedModel, o: TextOpts): number[] {
  const ids = loaded.tokenizer!.encode(readText(o));
  const n = o.length === undefined ? ids.length : positiveInt(o.length, '--length');
  if (ids.length < 2) throw new Error('the text has fewer than 2 tokens: nothing to predict');
  if (n < 2) throw new Error('--length must be at least 2 (the first token is given, the rest are predicted)');
  return ids.slice(0, n);
}

export function registerCramCommands(program: Command): void {
  program
    .command('run')
    .description('cram one text into K trainable vectors; prints metrics as JSON (with --json) and saves the vectors')
    .requiredOption('--model <dir>', 'model folder or bundled model name')
    .option('--text <string>', 'the text')
    .option('--text-file <file>', 'read the text from a file')
    .option('--length <n>', 'truncate to N tokens (BOS counted, as in the paper)')
    .option('--mem <k>', 'number of [mem] vectors', '1')
    .option('--max-steps <s>', 'optimisation steps at most', String(PAPER_SETTINGS.maxSteps))
    .option('--patience <s>', 'stop after this many steps without a better accuracy', String(PAPER_SETTINGS.patience))
    .option('--lr <lr>', 'AdamW learning rate', String(PAPER_SETTINGS.optimizer.lr))
    .option('--seed <s>', 'seed of the initial vectors', '0')
    .option('--out <file>', 'where to save the vectors (safetensors)')
    .option('--json', 'print one JSON object on stdout')
    .addOption(backendOption())
    .action(async (o: TextOpts & { model: string; mem: string; maxSteps: string; patience: string; lr: string; seed: string; out?: string; json?: boolean; backend: BackendChoice }) => {
      const nMem = positiveInt(o.mem, '--mem');
      const settings: CramSettings = {
        ...PAPER_SETTINGS, maxSteps: positiveInt(o.maxSteps, '--max-steps'), patience: positiveInt(o.patience, '--patience'),
        optimizer: { ...PAPER_SETTINGS.optimizer, lr: positiveNumber(o.lr, '--lr') },
      };
      const seed = Number(o.seed);
      if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${o.seed}"`);
      readText(o); // fail on a bad text option before loading anything
      const loaded = await openModel(o.model, { backend: o.backend });
      const ids = tokenize(loaded, o);
      const out = o.out ?? join(PROJECT_ROOT, 'results', 'vectors', `${loaded.name}-K${nMem}-N${ids.length}-${idsSha256(ids).slice(0, 10)}-seed${seed}.safetensors`);
      const progress = new ProgressLine();
      const result = await cramText(loaded, ids, {
        nMem, seed, settings, out,
        onStep: (p) => progress.update((el) => `step ${p.stepsDone}/${settings.maxSteps}  accuracy ${p.meanAccuracy.toFixed(3)}  ${formatSeconds(el)} elapsed, at most ${formatSeconds((el / p.stepsDone) * (settings.maxSteps - p.stepsDone))} left`),
      });
      progress.done();
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else {
        process.stdout.write(`${result.n_tokens} tokens into ${nMem} vector(s) of ${loaded.name}: accuracy ${result.original_accuracy.toFixed(3)} → ${result.best_accuracy.toFixed(3)} ` +
          `in ${result.steps} steps (${result.stop_reason}), information gain ${result.info_gain_nats.toFixed(1)} nats, ` +
          `greedy regeneration ${result.regenerated_exact ? 'exact' : `exact for ${result.regenerated_prefix_tokens}/${result.n_tokens - 1} tokens`}\nvectors: ${out}\n`);
      }
      await loaded.engine.release();
    });

  program
    .command('eval')
    .description('re-evaluate saved vectors on a text: teacher-forced accuracy, loss, exact greedy regeneration')
    .requiredOption('--model <dir>', 'model folder or bundled model name')
    .requiredOption('--vector <file>', 'vector file written by `cram run`')
    .option('--text <string>', 'the text')
    .option('--text-file <file>', 'read the text from a file')
    .option('--length <n>', 'truncate to N tokens (default: the token count stored with the vectors)')
    .option('--json', 'print one JSON object on stdout')
    .addOption(backendOption())
    .action(async (o: TextOpts & { model: string; vector: string; json?: boolean; backend: BackendChoice }) => {
      readText(o);
      if (!existsSync(o.vector)) throw new Error(`--vector ${o.vector} does not exist`);
      const { memory, meta } = readVectorFile(o.vector);
      const loaded = await openModel(o.model, { backend: o.backend });
      if (meta.model_sha256 !== loaded.weightsSha256) {
        throw new Error(`${o.vector} was trained on model "${meta.model}" (weights ${meta.model_sha256.slice(0, 12)}…), not on ${loaded.name} (weights ${loaded.weightsSha256.slice(0, 12)}…)`);
      }
      const ids = tokenize(loaded, { ...o, length: o.length ?? String(meta.n_tokens) });
      const n = ids.length;
      if (meta.embed_dim !== loaded.model.embedDim) throw new Error(`${o.vector} holds vectors of ${meta.embed_dim} values; ${loaded.name} takes ${loaded.model.embedDim}`);
      const [res] = await evaluateVectors(loaded.engine, meta.n_mem, memory, [ids]);
      const regen = await regenerate(loaded.engine, memory, meta.n_mem, ids);
      const result = {
        model: loaded.name, vector_file: o.vector, n_tokens: n, n_mem: meta.n_mem, text_matches: idsSha256(ids) === meta.ids_sha256,
        loss: res.loss, accuracy: res.accuracy, regenerated_exact: regen.regenerated_exact, regenerated_prefix_tokens: regen.regenerated_prefix_tokens,
      };
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(`accuracy ${result.accuracy.toFixed(4)}, loss ${result.loss.toFixed(4)}, regeneration ${result.regenerated_exact ? 'exact' : `exact for ${result.regenerated_prefix_tokens}/${n - 1} tokens`}${result.text_matches ? '' : ' (this is not the text the vectors were trained on)'}\n`);
      await loaded.engine.release();
    });
}

/** `cram run` (one text → trained vectors + metrics) and `cram eval` (saved vectors → accuracy, regeneration). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { BackendChoice } from '../engine/backends.ts';
import { LIMITS, PAPER_OPTIMIZER } from '../config/schema.ts';
import { cramFields, cramPrecision, cramSettings } from '../config/settings.ts';
import { idsSha256, readVectorFile } from '../cram/vector-file.ts';
import { checkWritableTarget, readTextFile, type TextEncodingName } from '../files.ts';
import { theoreticalCapacity } from '../metrics/text-metrics.ts';
import { PROJECT_ROOT } from '../paths/index.ts';
import { describeModel, loadTokenizer, type ModelInfo } from '../run/model-info.ts';
import type { CramOutcome } from '../run/model-session.ts';
import { formatSeconds, ProgressLine } from '../run/progress.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
import { asNumber, backendOption, encodingOption, integer, positiveInt, precisionOption } from './options.ts';
import type { Precision } from '../engine/precision.ts';

interface TextOpts {
  text?: string;
  textFile?: string;
  length?: string;
  encoding: TextEncodingName;
}

function readText(o: TextOpts): string {
  if ((o.text === undefined) === (o.textFile === undefined))
    throw new Error('give exactly one of --text <string> or --text-file <file>');
  if (o.textFile !== undefined) {
    if (!existsSync(o.textFile)) throw new Error(`--text-file ${o.textFile} does not exist`);
    return readTextFile(o.textFile, o.encoding, '--text-file');
  }
  return o.text!;
}

/** The text's ids (BOS counted), cut to --length; checked against the model's positions with `nMem` vectors. */
function tokenize(
  info: ModelInfo,
  tokenizer: TextTokenizer,
  text: string,
  length: string | undefined,
  nMem: number,
): number[] {
  const ids = tokenizer.encode(text);
  if (ids.length < 2) throw new Error('the text has fewer than 2 tokens: nothing to predict');
  const n = length === undefined ? ids.length : positiveInt(length, '--length', LIMITS.length);
  if (n < 2) throw new Error('--length must be at least 2 (the first token is given, the rest are predicted)');
  const out = ids.slice(0, n);
  if (out.length + nMem > info.maxPositions) {
    throw new Error(
      `${out.length} tokens + ${nMem} vectors need ${out.length + nMem} positions but ${info.name} takes ${info.maxPositions} (${info.positionsFrom}); give a smaller --length`,
    );
  }
  return out;
}

export function registerCramCommands(program: Command): void {
  program
    .command('run')
    .description('cram one text into K trainable vectors; prints metrics as JSON (with --json) and saves the vectors')
    .requiredOption('--model <dir>', 'model folder or bundled model name')
    .option('--text <string>', 'the text')
    .option('--text-file <file>', 'read the text from a file')
    .addOption(encodingOption())
    .option('--length <n>', 'truncate to N tokens (BOS counted, as in the paper)')
    .option('--mem <k>', 'number of [mem] vectors', '1')
    .option('--max-steps <s>', 'optimisation steps at most', '5000')
    .option('--patience <s>', 'stop after this many steps without a better accuracy', '2000')
    .option('--lr <lr>', 'AdamW learning rate', String(PAPER_OPTIMIZER.lr))
    .option('--seed <s>', 'seed of the initial vectors', '0')
    .option('--out <file>', 'where to save the vectors (safetensors)')
    .option('--json', 'print one JSON object on stdout')
    .addOption(backendOption())
    .addOption(precisionOption())
    .action(
      async (
        o: TextOpts & {
          model: string;
          mem: string;
          maxSteps: string;
          patience: string;
          lr: string;
          seed: string;
          out?: string;
          json?: boolean;
          backend: BackendChoice;
          precision: Precision;
        },
      ) => {
        // Everything is checked before the backend starts.
        const nMem = positiveInt(o.mem, '--mem', LIMITS.nMem);
        const fields = cramFields(
          {
            max_steps: asNumber(o.maxSteps),
            patience: asNumber(o.patience),
            optimizer: { lr: asNumber(o.lr) },
            precision: o.precision,
          },
          'cram run',
          { max_steps: '--max-steps', patience: '--patience', 'optimizer.lr': '--lr', precision: '--precision' },
        );
        const settings = cramSettings(fields);
        const seed = integer(o.seed, '--seed');
        if (o.out !== undefined) checkWritableTarget(o.out, '--out');
        const text = readText(o);
        const info = describeModel(o.model);
        const ids = tokenize(info, loadTokenizer(info), text, o.length, nMem);

        const sessions = await import('../run/model-session.ts');
        const { crammedText } = await import('../run/crammed-text.ts');
        await sessions.startBackend(o.backend, cramPrecision(fields));
        const session = await sessions.openModel(info.dir);
        const out =
          o.out ??
          join(
            PROJECT_ROOT,
            'results',
            'vectors',
            `${session.name}-K${nMem}-N${ids.length}-${idsSha256(ids).slice(0, 10)}-seed${seed}.safetensors`,
          );
        const progress = new ProgressLine();
        const outcomes: CramOutcome[] = [];
        await session.cram([{ key: `single-${idsSha256(ids).slice(0, 12)}`, ids, nMem, seed: `${seed}` }], settings, {
          onFinish: (r) => {
            outcomes.push(r);
          },
          onStep: (p) =>
            progress.update(
              (el) =>
                `step ${p.stepsDone}/${settings.maxSteps}  accuracy ${p.meanAccuracy.toFixed(3)}  ${formatSeconds(el)} elapsed, at most ${formatSeconds((el / p.stepsDone) * (settings.maxSteps - p.stepsDone))} left`,
            ),
        });
        progress.done();
        const done = outcomes[0];
        if (!done) throw new Error('cramming produced no outcome');
        const t = await crammedText(session, done, ids, {
          regenerate: true,
          vectorPath: out,
          extra: { best_accuracy: done.bestAccuracy, steps: done.steps, seed, lr: settings.optimizer.lr },
        });
        const f = t.fields;
        const result = {
          model: f.model,
          n_tokens: f.n_tokens,
          n_mem: f.n_mem,
          seed,
          precision: session.precision,
          original_loss: f.original_loss,
          original_accuracy: f.original_accuracy,
          best_loss: f.best_loss,
          best_accuracy: f.best_accuracy,
          loss_at_best_accuracy: f.loss_at_best_accuracy,
          best_step: f.best_step,
          steps: f.steps,
          stop_reason: f.stop_reason,
          ...t.metrics,
          regenerated_exact: f.regenerated_exact,
          regenerated_prefix_tokens: f.regenerated_prefix_tokens,
          theoretical_capacity: theoreticalCapacity(session.embedDim, session.numEmbeddings),
          seconds: f.seconds,
          vector_file: out,
        };
        if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
        else {
          process.stdout.write(
            `${result.n_tokens} tokens into ${nMem} vector(s) of ${session.name}: accuracy ${result.original_accuracy.toFixed(3)} → ${result.best_accuracy.toFixed(3)} ` +
              `in ${result.steps} steps (${result.stop_reason}), information gain ${result.info_gain_nats.toFixed(1)} nats, ` +
              `greedy regeneration ${result.regenerated_exact ? 'exact' : `exact for ${result.regenerated_prefix_tokens}/${result.n_tokens - 1} tokens`}\nvectors: ${out}\n`,
          );
        }
        session.dispose();
      },
    );

  program
    .command('eval')
    .description('re-evaluate saved vectors on a text: teacher-forced accuracy, loss, exact greedy regeneration')
    .requiredOption('--model <dir>', 'model folder or bundled model name')
    .requiredOption('--vector <file>', 'vector file written by `cram run`')
    .option('--text <string>', 'the text')
    .option('--text-file <file>', 'read the text from a file')
    .addOption(encodingOption())
    .option('--length <n>', 'truncate to N tokens (default: the token count stored with the vectors)')
    .option('--json', 'print one JSON object on stdout')
    .addOption(backendOption())
    .option(
      '--precision <type>',
      'precision of the matrix products (default: the one the vectors were trained with, else float32)',
    )
    .action(
      async (
        o: TextOpts & { model: string; vector: string; json?: boolean; backend: BackendChoice; precision?: string },
      ) => {
        const text = readText(o);
        if (!existsSync(o.vector)) throw new Error(`--vector ${o.vector} does not exist`);
        const { memory, meta } = readVectorFile(o.vector);
        const info = describeModel(o.model);
        const tokenizer = loadTokenizer(info);
        if (meta.tokenizer_sha256 && meta.tokenizer_sha256 !== tokenizer.fingerprint) {
          throw new Error(
            `${o.vector} was made with a tokenizer ${meta.tokenizer_sha256.slice(0, 12)}… (model "${meta.model}"), but ${info.name}'s tokenizer is ` +
              `${tokenizer.fingerprint.slice(0, 12)}…: the same text would give other token ids and a silently different accuracy`,
          );
        }
        const ids = tokenize(info, tokenizer, text, o.length ?? String(meta.n_tokens), meta.n_mem);

        const sessions = await import('../run/model-session.ts');
        const trained = typeof meta.extra?.precision === 'string' ? meta.extra.precision : undefined;
        const asked = (o.precision ?? trained ?? 'float32') as Precision;
        const named = { precision: o.precision !== undefined ? '--precision' : `the precision stored in ${o.vector}` };
        const precision = cramPrecision(cramFields({ precision: asked }, 'cram eval', named));
        await sessions.startBackend(o.backend, precision);
        const session = await sessions.openModel(info.dir);
        if (meta.model_sha256 !== session.weightsSha256) {
          throw new Error(
            `${o.vector} was trained on model "${meta.model}" (weights ${meta.model_sha256.slice(0, 12)}…), not on ${session.name} (weights ${session.weightsSha256.slice(0, 12)}…)`,
          );
        }
        if (meta.embed_dim !== session.embedDim)
          throw new Error(
            `${o.vector} holds ${meta.embed_dim}-dim vectors but ${session.name} embeds in ${session.embedDim} dims`,
          );
        const n = ids.length;
        const res = await session.evaluate(memory, meta.n_mem, ids);
        const regen = await session.regenerate(memory, meta.n_mem, ids);
        const result = {
          model: session.name,
          vector_file: o.vector,
          n_tokens: n,
          n_mem: meta.n_mem,
          text_matches: idsSha256(ids) === meta.ids_sha256,
          precision,
          loss: res.loss,
          accuracy: res.accuracy,
          regenerated_exact: regen.regenerated_exact,
          regenerated_prefix_tokens: regen.regenerated_prefix_tokens,
        };
        if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
        else
          process.stdout.write(
            `accuracy ${result.accuracy.toFixed(4)}, loss ${result.loss.toFixed(4)}, regeneration ${result.regenerated_exact ? 'exact' : `exact for ${result.regenerated_prefix_tokens}/${n - 1} tokens`}${result.text_matches ? '' : ' (this is not the text the vectors were trained on)'}\n`,
          );
        session.dispose();
      },
    );
}

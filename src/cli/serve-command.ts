/** `cram serve`: the memory service on loopback (see docs/serve.md). */
import type { Command } from 'commander';
import { Option } from 'commander';
import { DEFAULTS } from '../compress/defaults.ts';
import { defaultStorePath } from '../compress/store.ts';
import type { BackendChoice } from '../engine/backends.ts';
import { backendOption, positiveInt, positiveNumber } from './options.ts';
import { SERVE_DEFAULTS } from '../serve/defaults.ts';

interface ServeCliOptions {
  model: string;
  port: string;
  host: string;
  store?: string;
  token?: string;
  backend: BackendChoice;
  maxSteps: string;
  maxStepsCeiling?: string;
  patience: string;
  segmentTokens: string;
  tokensPerVector: string;
  maxMem?: string;
  seed: string;
  batchTexts: string;
  batchTokens: string;
  batchWaitMs: string;
  maxQueue: string;
  maxTextTokens: string;
  bodyLimit: string;
  maxNewTokens: string;
  maxWaiting: string;
  sessionThreshold: string;
  sessionKeep: string;
  log?: boolean;
  allowOtherModels?: boolean;
}

const nonNegativeInt = (v: string, name: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
  return n;
};

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'HTTP JSON memory service: background compression, [mem-id-N] placeholders in prompts, auto-compressed sessions (docs/serve.md)',
    )
    .requiredOption('--model <m>', 'model folder or bundled model name')
    .option('--port <n>', 'TCP port (0: any free port, printed at start-up)', '8787')
    .option(
      '--host <addr>',
      'address to bind; the default keeps it on this machine (another needs --token)',
      '127.0.0.1',
    )
    .option(
      '--store <db>',
      `SQLite database for the queue, memories and sessions (default $CRAM_STORE or ${defaultStorePath()})`,
    )
    .addOption(
      new Option('--token <secret>', 'require Authorization: Bearer <secret> on every route but /v1/health').env(
        'CRAM_SERVE_TOKEN',
      ),
    )
    .addOption(backendOption())
    .option('--max-steps <n>', 'optimisation steps per round at most', String(DEFAULTS.maxSteps))
    .option(
      '--max-steps-ceiling <n>',
      'a failed stage (one sequence) is tried once more with twice the steps, a segment still improving at its ' +
        'step limit gets twice the steps, up to this (default 4 × --max-steps); then more vectors',
    )
    .option(
      '--patience <n>',
      'give a segment more vectors after this many steps without a better accuracy',
      String(DEFAULTS.patience),
    )
    .option(
      '--segment-tokens <n>',
      'tokens per segment (default: the whole text as one sequence, the only layout a ' +
        '[mem-id-N] placeholder can use)',
      String(SERVE_DEFAULTS.segmentTokens),
    )
    .option('--tokens-per-vector <x>', 'starting K = ceil(segment tokens / x)', String(DEFAULTS.tokensPerVector))
    .option('--max-mem <k>', 'largest K per segment or one-sequence text (default: 4 × its tokens)')
    .option('--seed <s>', 'seed of the initial vectors', String(DEFAULTS.seed))
    .option('--batch-texts <n>', 'most texts compressed together', String(SERVE_DEFAULTS.batchTexts))
    .option('--batch-tokens <n>', 'most text tokens in one batch', String(SERVE_DEFAULTS.batchTokens))
    .option(
      '--batch-wait-ms <n>',
      'after an idle wake-up, wait this long for more requests to batch',
      String(SERVE_DEFAULTS.batchWaitMs),
    )
    .option(
      '--max-queue <n>',
      'most jobs queued or running; more get 429 with Retry-After',
      String(SERVE_DEFAULTS.maxQueue),
    )
    .option(
      '--max-text-tokens <n>',
      'most tokens in one memory text or session message',
      String(SERVE_DEFAULTS.maxTextTokens),
    )
    .option('--body-limit <bytes>', 'largest request body', String(SERVE_DEFAULTS.bodyLimit))
    .option('--max-new-tokens <n>', 'largest max_tokens of a generate request', String(SERVE_DEFAULTS.maxNewTokens))
    .option(
      '--max-waiting <n>',
      'generate/decompress requests waiting for the model; more get 429',
      String(SERVE_DEFAULTS.maxWaiting),
    )
    .option(
      '--session-threshold <n>',
      "compress a session's oldest messages when its text passes this many tokens",
      String(SERVE_DEFAULTS.session.thresholdTokens),
    )
    .option(
      '--session-keep <n>',
      'tokens of the newest messages kept as text',
      String(SERVE_DEFAULTS.session.keepTokens),
    )
    .option('--log', 'log every request (JSON lines on stderr)')
    .option(
      '--allow-other-models',
      "start on a store holding another model's memories (they are listed, never decoded here)",
    )
    .action(async (o: ServeCliOptions) => {
      const port = nonNegativeInt(o.port, '--port');
      if (port > 65535) throw new Error(`--port must be at most 65535, got ${port}`);
      const seed = Number(o.seed);
      if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${o.seed}"`);
      if (o.token !== undefined && o.token.length < 8) throw new Error('--token must be at least 8 characters');
      const maxTextTokens = positiveInt(o.maxTextTokens, '--max-text-tokens');
      const threshold = positiveInt(o.sessionThreshold, '--session-threshold');
      const keep = nonNegativeInt(o.sessionKeep, '--session-keep');
      if (keep >= threshold)
        throw new Error(`--session-keep (${keep}) must be below --session-threshold (${threshold})`);
      const { checkBind } = await import('../serve/bind.ts');
      await checkBind(o.host, o.token);
      // The engine and the server load only now: `cram --help` and the other commands never load them.
      const { openModel } = await import('../cram/compiled-model.ts');
      const { createServer } = await import('../serve/app.ts');
      const model = await openModel(o.model, { backend: o.backend });
      const server = await createServer({
        model,
        store: o.store,
        token: o.token,
        log: o.log,
        allowOtherModels: o.allowOtherModels === true,
        bodyLimit: positiveInt(o.bodyLimit, '--body-limit'),
        maxTextTokens,
        maxQueue: positiveInt(o.maxQueue, '--max-queue'),
        maxNewTokens: positiveInt(o.maxNewTokens, '--max-new-tokens'),
        maxWaiting: nonNegativeInt(o.maxWaiting, '--max-waiting'),
        session: { thresholdTokens: threshold, keepTokens: keep, maxChunkTokens: maxTextTokens },
        worker: {
          batchTexts: positiveInt(o.batchTexts, '--batch-texts'),
          batchTokens: positiveInt(o.batchTokens, '--batch-tokens'),
          batchWaitMs: nonNegativeInt(o.batchWaitMs, '--batch-wait-ms'),
          compress: {
            maxSteps: positiveInt(o.maxSteps, '--max-steps'),
            maxStepsCeiling:
              o.maxStepsCeiling === undefined ? undefined : positiveInt(o.maxStepsCeiling, '--max-steps-ceiling'),
            patience: positiveInt(o.patience, '--patience'),
            segmentTokens: positiveInt(o.segmentTokens, '--segment-tokens'),
            tokensPerVector: positiveNumber(o.tokensPerVector, '--tokens-per-vector'),
            maxMem: o.maxMem === undefined ? undefined : positiveInt(o.maxMem, '--max-mem'),
            seed,
          },
        },
      });
      const address = await server.app.listen({ port, host: o.host });
      if (server.requeued.length > 0)
        process.stderr.write(`serve: ${server.requeued.length} job(s) interrupted by the last stop queued again\n`);
      // One JSON line on stdout: where the service is (tests and scripts read it; --port 0 picks a free port).
      process.stdout.write(
        JSON.stringify({
          listening: address,
          model: model.name,
          backend: model.compiled.runtime.name,
          store: server.db.path,
        }) + '\n',
      );
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`serve: ${signal}: stopping (running jobs go back to the queue)\n`);
        await server.close();
        await model.compiled.release();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
}

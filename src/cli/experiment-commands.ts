/**
 * `cram experiment <config> [--shard i/n]` (run or resume any kind, or one shard of it), `cram check <config>` (validate and plan, no engine),
 * `cram kinds`, `cram report <run>`, `cram compare <runs…> --out <dir>`.
 */
import { existsSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_CONFIG, runExperiment } from '../run/harness.ts';
import { writeRunReport } from '../run/run-report.ts';
import { KINDS } from '../experiments/kinds/index.ts';
import { prepareExperiment } from '../run/prepare.ts';
import { COST_ESTIMATE, MAX_SHARDS, shardRequest, splitPlan } from '../run/shards.ts';
import { positiveInt } from './options.ts';
import { formatBytes, gb, planForModelDir } from '../cram/limits.ts';

const rel = (p: string) => relative(process.cwd(), p) || '.';

export function registerExperimentCommands(program: Command): void {
  program
    .command('experiment')
    .description('run (or resume) an experiment config of any kind; results go to <output_dir>/<name>/')
    .argument('[config]', 'YAML or JSON config', rel(DEFAULT_CONFIG))
    .option('--quiet', 'no progress output')
    .option(
      '--shard <i/n>',
      'run only shard i (from 0) of n: its share of the planned items (default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX when set)',
    )
    .option(
      '--shards <n>',
      "the shard count when the index comes from the environment (a Kubernetes Indexed Job's completions); default: the config's shards",
    )
    .action(async (config: string, o: { quiet?: boolean; shard?: string; shards?: string }) => {
      const shard =
        shardRequest(
          o.shard,
          process.env,
          o.shards === undefined ? undefined : positiveInt(o.shards, '--shards', MAX_SHARDS),
        ) ?? undefined;
      const r = await runExperiment(config, { quiet: o.quiet, shard });
      if (r.interrupted) process.exitCode = 130;
    });

  program
    .command('check')
    .description('validate a config and plan its work without running anything (no engine, nothing written)')
    .argument('[config]', 'YAML or JSON config', rel(DEFAULT_CONFIG))
    .option('--json', 'one JSON object on stdout')
    .option('--shards <n>', 'also show how the items would be split over n shards')
    .action((config: string, o: { json?: boolean; shards?: string }) => {
      const p = prepareExperiment(config, { quiet: o.json });
      const models = p.models.map((m) => ({
        model: m.info.name,
        max_positions: m.info.maxPositions,
        items: m.items.length,
        skipped_short_texts: m.skipped.length,
        most_positions: Math.max(0, ...m.items.map((i) => i.positions)),
        // From config.json alone (no weight files needed): the weights' bytes as float32 and as bf16/fp16.
        parameters: m.info.parameters,
        weight_bytes:
          m.info.parameters === null ? null : { float32: m.info.parameters * 4, bfloat16: m.info.parameters * 2 },
      }));
      // The memory plan per backend and precision at the longest planned text (config.json and weight headers only).
      const plans = p.models.map((m, i) => planForModelDir(m.info.dir, Math.max(1, models[i].most_positions)));
      const n = o.shards === undefined ? undefined : positiveInt(o.shards, '--shards', MAX_SHARDS);
      const split =
        n === undefined
          ? undefined
          : splitPlan(
              p.models.map((m) => ({ name: m.info.name, items: m.items })),
              n,
              p.config.max_steps,
            );
      const total = split?.reduce((a, s) => a + s.cost, 0) || 1;
      const shards = split?.map((s, i) => ({ shard: i, items: s.items, cost_share: s.cost / total }));
      if (o.json) {
        const withPlans = models.map((m, i) => ({
          ...m,
          precision: p.config.precision,
          memory_plan: plans[i]?.rows ?? null,
        }));
        const json = {
          config,
          experiment: p.kind.name,
          run_dir: p.runDir,
          models: withPlans,
          ...(shards ? { shards } : {}),
        };
        process.stdout.write(JSON.stringify(json) + '\n');
        return;
      }
      process.stdout.write(`${config}: valid ${p.kind.name} experiment → ${rel(p.runDir)}\n`);
      for (const m of models) {
        process.stdout.write(
          `  ${m.model}: ${m.items} work items (largest ${m.most_positions} of ${m.max_positions} positions)` +
            `${m.skipped_short_texts ? `, ${m.skipped_short_texts} text/length pairs skipped (text shorter than the length)` : ''}\n`,
        );
        if (m.weight_bytes) {
          const n = m.parameters!;
          const count = n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${n}`;
          process.stdout.write(
            `    weights: ${count} parameters (from config.json): ` +
              `${formatBytes(m.weight_bytes.float32)} as float32, ` +
              `${formatBytes(m.weight_bytes.bfloat16)} as bf16/fp16\n`,
          );
        }
      }
      models.forEach((m, i) => {
        const plan = plans[i];
        if (!plan) return;
        process.stdout.write(
          `  ${m.model} memory plan at ${m.most_positions} positions per text ` +
            `(weights from ${plan.weightsFrom}; config precision ${p.config.precision}):\n`,
        );
        for (const r of plan.rows) {
          const fits = Object.entries(r.max_batch)
            .map(([k, v]) => `${k}: ${v}`)
            .join(', ');
          process.stdout.write(
            `    ${r.backend.padEnd(6)} ${r.precision.padEnd(8)} weights ${gb(r.weights_bytes)}, ` +
              `activations ${gb(r.activations_bytes)} per text, batch 1 ${gb(r.total_batch1_bytes)}; largest batch in ${fits}\n`,
          );
        }
      });
      for (const s of shards ?? [])
        process.stdout.write(
          `  shard ${s.shard}/${n}: ${s.items} items, ${(100 * s.cost_share).toFixed(1)} % of the expected cost (${COST_ESTIMATE})\n`,
        );
    });

  program
    .command('kinds')
    .description('list the experiment kinds a config can name in `experiment:`')
    .action(() => {
      for (const k of Object.values(KINDS)) process.stdout.write(`${k.name}\t${k.description}\n`);
    });

  program
    .command('report')
    .description("rewrite a run's results.csv, figures, tables and report.md/html from its folder")
    .argument('<run>', 'run folder, e.g. results/quick')
    .action(async (dir: string) => {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`run folder ${dir} does not exist`);
      const r = await writeRunReport(resolve(dir), {
        log: (s) => process.stderr.write(`${s}\n`),
        requireRecords: true,
      });
      process.stdout.write(`${rel(r!.markdown)}\n${rel(r!.html)}\n`);
    });

  program
    .command('compare')
    .description('merge runs (different models or backends) into one table and one set of comparative figures')
    .argument('<runs...>', 'run folders')
    .requiredOption('--out <dir>', 'output folder, e.g. results/comparison')
    .action(async (runs: string[], o: { out: string }) => {
      for (const r of runs) if (!existsSync(r)) throw new Error(`run folder ${r} does not exist`);
      const { compareRuns } = await import('../run/compare.ts');
      const r = await compareRuns(
        runs.map((x) => resolve(x)),
        resolve(o.out),
      );
      process.stdout.write(`${rel(r.markdown)}\n${rel(r.html)}\n`);
    });
}

/**
 * Scale-out commands: `cram status <run|config>` (per-shard progress of a running or finished experiment) and
 * `cram slurm <config> --tasks N` (an sbatch array script; `--submit` submits it). `cram experiment --shard i/n` is in
 * experiment-commands.ts. Neither command here loads the tensor engine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { PROJECT_ROOT } from '../paths/index.ts';
import { writeFileAtomic } from '../files.ts';
import { prepareExperiment } from '../run/prepare.ts';
import { readShardsFile, splitPlan } from '../run/shards.ts';
import { sbatchScript } from '../run/slurm.ts';
import { formatStatus, runStatus } from '../run/status.ts';
import { integer, positiveInt } from './options.ts';

const rel = (p: string) => relative(process.cwd(), p) || '.';

export function registerScaleOutCommands(program: Command): void {
  program
    .command('status')
    .description(
      'progress of an experiment, per shard: done / planned, last record, running or not (reads the run folder only)',
    )
    .argument('<run>', "run folder (results/<name>) or the experiment's config")
    .option('--json', 'one JSON object on stdout')
    .action((target: string, o: { json?: boolean }) => {
      if (!existsSync(target))
        throw new Error(`${target} does not exist; give a run folder (results/<name>) or a config`);
      let dir = resolve(target);
      let planned: (() => number | null) | undefined;
      if (statSync(target).isFile()) {
        const p = prepareExperiment(target, { quiet: true });
        dir = p.runDir;
        planned = () => p.models.reduce((a, m) => a + m.items.length, 0);
        if (!existsSync(dir))
          throw new Error(
            `${rel(dir)} does not exist yet: ${target} has not been started (cram experiment ${target}, or cram slurm ${target} --tasks N --submit)`,
          );
      } else if (existsSync(join(dir, 'config.yaml'))) {
        planned = () => {
          try {
            return prepareExperiment(join(dir, 'config.yaml'), { quiet: true }).models.reduce(
              (a, m) => a + m.items.length,
              0,
            );
          } catch {
            return null;
          }
        };
      }
      const st = runStatus(dir, planned);
      if (o.json) process.stdout.write(JSON.stringify(st) + '\n');
      else process.stdout.write(formatStatus(st, rel(dir)));
    });

  program
    .command('slurm')
    .description(
      'write an sbatch job-array script that runs the experiment as N shards, one task per GPU (--submit: and submit it)',
    )
    .argument('<config>', 'YAML or JSON config')
    .option('--tasks <n>', "array tasks = shards (default: the config's shards)")
    .option('--partition <p>', 'SLURM partition')
    .option('--gpus-per-task <g>', 'GPUs per task (0 for a CPU-only run)', '1')
    .option('--cpus-per-task <c>', 'CPUs per task (CRAM_THREADS follows it)', '1')
    .option('--time <hh:mm:ss>', 'time limit per task (at the limit a task stops after its step; resubmit it to go on)')
    .option('--mem <size>', 'memory per node, e.g. 32G')
    .option('--account <a>', 'SLURM account')
    .option('--sbatch-arg <arg...>', 'more sbatch options, e.g. --sbatch-arg=--constraint=a100')
    .option('--out <file>', 'where to write the script (default <run folder>/slurm/<name>.sbatch)')
    .option('--submit', 'submit it with sbatch')
    .option('--json', 'one JSON object on stdout')
    .action(
      (
        config: string,
        o: {
          tasks?: string;
          partition?: string;
          gpusPerTask: string;
          cpusPerTask: string;
          time?: string;
          mem?: string;
          account?: string;
          sbatchArg?: string[];
          out?: string;
          submit?: boolean;
          json?: boolean;
        },
      ) => {
        const p = prepareExperiment(config, { quiet: o.json });
        const tasks = o.tasks !== undefined ? positiveInt(o.tasks, '--tasks') : p.config.shards;
        if (tasks === undefined)
          throw new Error('give --tasks N (the number of array tasks, one shard each), or shards: N in the config');
        const recorded = readShardsFile(p.runDir);
        if (recorded && recorded.count !== tasks) {
          throw new Error(
            `${rel(p.runDir)} was split into ${recorded.count} shards when it was first run (${recorded.created}); ` +
              `use --tasks ${recorded.count} (resubmit missing shards with sbatch --array=<i>), or give the config another name to split it anew`,
          );
        }
        const script = resolve(o.out ?? join(p.runDir, 'slurm', `${p.config.name}.sbatch`));
        const text = sbatchScript({
          config: resolve(config),
          runDir: p.runDir,
          projectRoot: PROJECT_ROOT,
          node: process.env.CRAM_NODE ?? process.execPath,
          script,
          name: p.config.name,
          tasks,
          partition: o.partition,
          gpusPerTask: integer(o.gpusPerTask, '--gpus-per-task'),
          cpusPerTask: positiveInt(o.cpusPerTask, '--cpus-per-task'),
          time: o.time,
          mem: o.mem,
          account: o.account,
          extra: o.sbatchArg,
        });
        // SLURM does not create the folder of --output: it must exist before a task starts.
        mkdirSync(join(p.runDir, 'slurm'), { recursive: true });
        mkdirSync(dirname(script), { recursive: true });
        writeFileAtomic(script, text);
        const split = splitPlan(
          p.models.map((m) => ({ name: m.info.name, items: m.items })),
          tasks,
          p.config.max_steps,
        );
        const total = split.reduce((a, s) => a + s.cost, 0) || 1;
        let job: string | null = null;
        if (o.submit) {
          const r = spawnSync('sbatch', ['--parsable', script], { encoding: 'utf8' });
          if (r.error)
            throw new Error(
              `sbatch could not be run (${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found: is this a SLURM login node?' : r.error.message}); the script is ${rel(script)}`,
            );
          if (r.status !== 0) throw new Error(`sbatch refused ${rel(script)}: ${(r.stderr || r.stdout).trim()}`);
          job = r.stdout.trim().split(';')[0];
        }
        if (o.json) {
          process.stdout.write(
            JSON.stringify({
              script,
              run_dir: p.runDir,
              tasks,
              job,
              shards: split.map((s) => ({ items: s.items, cost_share: s.cost / total })),
            }) + '\n',
          );
          return;
        }
        process.stdout.write(
          `${rel(script)}: ${tasks} array task${tasks > 1 ? 's' : ''} for ${rel(p.runDir)}; items per shard ${split.map((s) => s.items).join(' / ')}, ` +
            `expected cost ${split.map((s) => `${((100 * s.cost) / total).toFixed(1)} %`).join(' / ')}\n`,
        );
        process.stdout.write(
          job
            ? `submitted job ${job}; progress: cram status ${rel(p.runDir)}\n`
            : `submit with: sbatch ${rel(script)}\n`,
        );
      },
    );
}

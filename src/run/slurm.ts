/**
 * `cram slurm <config> --tasks N`: an sbatch job-array script that runs one experiment as N shards, one task per GPU
 * (shards.ts does the splitting; every task names its shard explicitly, `--shard $SLURM_ARRAY_TASK_ID/N`, so a task
 * resubmitted alone with `sbatch --array=i <script>` is still shard i of N).
 */
import { MAX_SHARDS } from './shards.ts';

export interface SlurmScriptOptions {
  /** Absolute paths. */
  config: string;
  runDir: string;
  projectRoot: string;
  /** Where the script will be (for its own comments). */
  script: string;
  /** The node binary the tasks run (the CLI gives the one running now). */
  node: string;
  name: string;
  tasks: number;
  partition?: string;
  gpusPerTask: number;
  cpusPerTask: number;
  time?: string;
  mem?: string;
  account?: string;
  /** More #SBATCH lines, as given (e.g. "--constraint=a100"). */
  extra?: string[];
}

/** SLURM's --time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. */
export const SLURM_TIME = /^(\d+-\d{1,2}(:\d{1,2}){0,2}|\d+(:\d{1,2}){0,2})$/;

/** A value safe in a single-quoted shell word. */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function checkSlurmOptions(
  o: Pick<
    SlurmScriptOptions,
    'tasks' | 'partition' | 'gpusPerTask' | 'cpusPerTask' | 'time' | 'mem' | 'account' | 'extra'
  >,
): void {
  if (!Number.isInteger(o.tasks) || o.tasks < 1 || o.tasks > MAX_SHARDS)
    throw new Error(`--tasks must be an integer 1…${MAX_SHARDS}, got ${o.tasks}`);
  if (!Number.isInteger(o.gpusPerTask) || o.gpusPerTask < 0)
    throw new Error(`--gpus-per-task must be 0 or more, got ${o.gpusPerTask}`);
  if (!Number.isInteger(o.cpusPerTask) || o.cpusPerTask < 1)
    throw new Error(`--cpus-per-task must be 1 or more, got ${o.cpusPerTask}`);
  if (o.time !== undefined && !SLURM_TIME.test(o.time))
    throw new Error(`--time ${o.time}: give hh:mm:ss (or SLURM's d-hh:mm:ss, minutes, mm:ss)`);
  for (const [flag, v] of [
    ['--partition', o.partition],
    ['--mem', o.mem],
    ['--account', o.account],
  ] as const) {
    if (v !== undefined && !/^[\w.,:@+-]+$/.test(v))
      throw new Error(`${flag} ${JSON.stringify(v)}: letters, digits and _ . , : @ + - only`);
  }
  for (const x of o.extra ?? [])
    if (!/^--?[\w-]+(=\S+)?$/.test(x) || /\n/.test(x))
      throw new Error(`--sbatch-arg ${JSON.stringify(x)}: one sbatch option such as --constraint=a100`);
}

export function sbatchScript(o: SlurmScriptOptions): string {
  checkSlurmOptions(o);
  const out = `${o.runDir}/slurm`;
  const lines = [
    '#!/bin/bash',
    `# Written by \`cram slurm\`: run ${o.name} (${o.config}) as ${o.tasks} shard${o.tasks > 1 ? 's' : ''}, one array task each.`,
    `#   submit:            sbatch ${o.script}`,
    `#   resubmit shard i:  sbatch --array=i ${o.script}   (it resumes; finished items are never run again)`,
    `#   progress:          cram status ${o.runDir}     (squeue for the tasks)`,
    `#   merged report:     written by the last shard to finish, or cram report ${o.runDir}`,
    `#SBATCH --job-name=cram-${o.name}`,
    `#SBATCH --array=0-${o.tasks - 1}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${o.cpusPerTask}`,
    ...(o.gpusPerTask > 0 ? [`#SBATCH --gpus-per-task=${o.gpusPerTask}`] : []),
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
    ...(o.account ? [`#SBATCH --account=${o.account}`] : []),
    ...(o.extra ?? []).map((x) => `#SBATCH ${x}`),
    // #SBATCH lines take no quoting: a path with spaces would break them.
    `#SBATCH --output=${out}/%A_%a.out`,
    '#SBATCH --open-mode=append',
    '',
    'set -euo pipefail',
    `cd ${shellQuote(o.projectRoot)}`,
    '# ONNX Runtime takes every core of the node unless told: one thread per CPU SLURM gave this task.',
    'export CRAM_THREADS="${CRAM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"',
    'echo "shard ${SLURM_ARRAY_TASK_ID}/' +
      o.tasks +
      ' of job ${SLURM_ARRAY_JOB_ID} on $(hostname), CRAM_THREADS=${CRAM_THREADS}, $(date -u +%FT%TZ)" >&2',
    '# exec: scancel and the time limit send SIGTERM straight to the run, which stops after its current step.',
    `exec ${shellQuote(o.node)} --import tsx src/cli/main.ts experiment ${shellQuote(o.config)} --shard "\${SLURM_ARRAY_TASK_ID}/${o.tasks}"`,
    '',
  ];
  if (/\s/.test(out))
    throw new Error(
      `the run folder ${o.runDir} has white space in its path, which #SBATCH --output cannot take; use an output_dir without spaces`,
    );
  return lines.join('\n');
}

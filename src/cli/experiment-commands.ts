/** `cram experiment <config>`, `cram report <run>`, `cram compare <runs…> --out <dir>`. */
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_CONFIG, runExperiment, writeRunReport } from '../../experiments/run.ts';
import { RunFolder } from '../results/run-folder.ts';
import { compareRuns } from '../report/compare.ts';

const rel = (p: string) => relative(process.cwd(), p) || '.';

export function registerExperimentCommands(program: Command): void {
  program
    .command('experiment')
    .description('run (or resume) an experiment config; results go to results/<name>/')
    .argument('[config]', 'YAML or JSON config', rel(DEFAULT_CONFIG))
    .option('--quiet', 'no progress output')
    .action(async (config: string, o: { quiet?: boolean }) => {
      const r = await runExperiment(config, { quiet: o.quiet });
      if (r.interrupted) process.exitCode = 130;
    });

  program
    .command('report')
    .description('rewrite a run\'s results.csv, figures, tables and report.md/html from its folder')
    .argument('<run>', 'run folder, e.g. results/quick')
    .action(async (dir: string) => {
      if (!existsSync(dir)) throw new Error(`run folder ${dir} does not exist`);
      const r = await writeRunReport(new RunFolder(resolve(dir)));
      process.stdout.write(`${rel(r.markdown)}\n${rel(r.html)}\n`);
    });

  program
    .command('compare')
    .description('merge runs (different models or backends) into one table and one set of comparative figures')
    .argument('<runs...>', 'run folders')
    .requiredOption('--out <dir>', 'output folder, e.g. results/comparison')
    .action(async (runs: string[], o: { out: string }) => {
      for (const r of runs) if (!existsSync(r)) throw new Error(`run folder ${r} does not exist`);
      const r = await compareRuns(runs.map((x) => resolve(x)), resolve(o.out));
      process.stdout.write(`${rel(r.markdown)}\n${rel(r.html)}\n`);
    });
}

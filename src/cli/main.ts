#!/usr/bin/env node
/**
 * `cram <command>` (the package's bin; also `npm run cram -- <command>`): the harness's command line. JSON goes to
 * stdout, progress and errors to stderr. Commands load the tensor engine only when they need it, so `check`, `kinds`,
 * `report` and `store` start fast.
 */
import { Command } from 'commander';
import { registerCompressorCommands } from './compressor-commands.ts';
import { registerCramCommands } from './cram-commands.ts';
import { registerDoctor } from './doctor-command.ts';
import { registerExperimentCommands } from './experiment-commands.ts';
import { registerScaleOutCommands } from './scale-out-commands.ts';
import { registerVerify } from './verify-command.ts';
import { registerServeCommand } from './serve-command.ts';
import { registerViewCommand } from './view-command.ts';

const program = new Command()
  .name('cram')
  .description('Cram text into a few input vectors of a frozen language model, and measure how much fits.')
  .showHelpAfterError();

registerVerify(program);
registerDoctor(program);
registerCramCommands(program);
registerCompressorCommands(program);
registerExperimentCommands(program);
registerServeCommand(program);
registerScaleOutCommands(program);
registerViewCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

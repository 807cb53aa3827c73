/**
 * `cram view [results-folder]`: a local web app over a results folder (runs with live status, a run's interactive
 * figures and tables, a text's page, comparisons). Loopback by default; a non-loopback bind needs --token.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';

export function registerViewCommand(program: Command): void {
  program
    .command('view')
    .description("browse results in a local web app: runs (live), interactive figures, a text's page, comparisons")
    .argument('[results-folder]', 'folder holding run folders', 'results')
    .option('--port <n>', 'port (0: any free port)', '8788')
    .option('--host <address>', 'address to bind; anything but loopback needs --token', '127.0.0.1')
    .option('--token <secret>', 'require this token on every request (needed for a non-loopback --host)')
    .action(async (folder: string, o: { port: string; host: string; token?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`--port ${o.port}: give a port number 0–65535`);
      if (o.token !== undefined && o.token.length < 8) throw new Error('--token: give at least 8 characters');
      const { startViewer } = await import('../view/start.ts');
      const v = await startViewer(resolve(folder), { port, host: o.host, token: o.token });
      process.stderr.write(`cram view: ${folder} at ${v.url}  (Ctrl-C stops it)\n`);
      const stop = () => {
        void v.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

/**
 * Ctrl-C and SIGTERM during a run. The first signal asks the run to stop after the current optimisation step (finished
 * records are on disk; the same command resumes). A second signal stops at once: `onAbort` records the session's
 * end and releases the lock, then the process exits.
 *
 * Under `npm run`, one Ctrl-C reaches the run twice: from the terminal (to the whole process group) and forwarded by
 * npm. Signals within `sameSignalMs` of the first count as that same request, so one Ctrl-C is always graceful.
 * SIGTERM sent to npm alone reaches only npm's shell, which dies without passing it on; so a run started by npm also
 * stops gracefully when the process that started it is gone (outside npm, a run whose shell exits, e.g. under nohup,
 * keeps running).
 */
import { readFileSync } from 'node:fs';
import { processAlive } from './run-lock.ts';

/** The process that started this one, as it was when this module loaded (at start-up, before planning). */
const STARTING_PARENT = process.ppid;

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * The processes between this one and the npm that started it, npm included (parent first): npm may run the script
 * through a shell that outlives a kill -9 of npm, so the parent alone does not show that npm is gone. Only the
 * parent where no npm process is found within four levels (or /proc cannot be read).
 */
export function npmAncestors(start = STARTING_PARENT): number[] {
  const chain: number[] = [];
  for (let pid: number | null = start; pid !== null && pid > 1 && chain.length < 4; pid = parentOf(pid)) {
    chain.push(pid);
    if (/^(\S*\/)?npm(\s|$)|npm-cli\.js/.test(commandLine(pid))) return chain;
  }
  return [start];
}

export class StopSignals {
  private first = 0;
  private requested = false;
  private readonly handler = (signal: NodeJS.Signals) => this.onSignal(signal);
  private parentWatch: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: (s: string) => void,
    private readonly onAbort: (signal: NodeJS.Signals) => void,
    private readonly sameSignalMs = 1000,
  ) {}

  get stopRequested(): boolean {
    return this.requested;
  }

  install(): this {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
    if (process.env.npm_lifecycle_event !== undefined) {
      // Polled: a kill -9 of npm sends nothing, and the shell between npm and this process may stay.
      const watched = npmAncestors();
      const check = () => {
        if (this.requested) return;
        const gone = process.ppid !== STARTING_PARENT || watched.some((pid) => !processAlive(pid));
        if (gone) this.request('the npm process that started this run is gone');
      };
      check();
      this.parentWatch = setInterval(check, 500);
      this.parentWatch.unref();
    }
    return this;
  }

  uninstall(): void {
    process.removeListener('SIGINT', this.handler);
    process.removeListener('SIGTERM', this.handler);
    if (this.parentWatch) clearInterval(this.parentWatch);
  }

  private request(why: string): void {
    this.requested = true;
    this.first = Date.now();
    this.log(
      `\n${why}: stopping after the current step; finished records are saved and the same command resumes. ` +
        'Press Ctrl-C again to stop at once.',
    );
  }

  private onSignal(signal: NodeJS.Signals): void {
    const now = Date.now();
    if (!this.requested) {
      this.request(signal);
      return;
    }
    if (now - this.first < this.sameSignalMs) return;
    this.log(`\n${signal} again: stopping now (the step in progress is lost; finished records are saved).`);
    try {
      this.onAbort(signal);
    } finally {
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
  }
}

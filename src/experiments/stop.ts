/**
 * Ctrl-C and SIGTERM during a run. The first signal asks the run to stop after the current optimisation step (finished
 * records are on disk; the same command resumes). A second signal stops at once: `onAbort` records the session's
 * end and releases the lock, then the process exits.
 *
 * Under `npm run`, one Ctrl-C reaches the run twice: from the terminal (to the whole process group) and forwarded by
 * npm. Signals within `sameSignalMs` of the first count as that same request, so one Ctrl-C is always graceful.
 */
export class StopSignals {
  private first = 0;
  private requested = false;
  private readonly handler = (signal: NodeJS.Signals) => this.onSignal(signal);

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
    return this;
  }

  uninstall(): void {
    process.removeListener('SIGINT', this.handler);
    process.removeListener('SIGTERM', this.handler);
  }

  private onSignal(signal: NodeJS.Signals): void {
    const now = Date.now();
    if (!this.requested) {
      this.requested = true;
      this.first = now;
      this.log(`\n${signal}: stopping after the current step; finished records are saved and the same command resumes. ` +
        'Press Ctrl-C again to stop at once.');
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

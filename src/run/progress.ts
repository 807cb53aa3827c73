/** Progress on stderr: a bar for long runs, one redrawn line for single commands and planning. */
import cliProgress from 'cli-progress';

/** A one-line progress report on stderr: redrawn in place on a terminal, every few seconds otherwise. */
export class ProgressLine {
  private last = 0;
  private readonly start = performance.now();
  constructor(
    private readonly tty = process.stderr.isTTY === true,
    private readonly everyMs = tty ? 200 : 5000,
  ) {}

  update(text: (elapsedS: number) => string, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < this.everyMs) return;
    this.last = now;
    const line = text((now - this.start) / 1000);
    process.stderr.write(this.tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  done(): void {
    if (this.tty && this.last > 0) process.stderr.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Progress for long runs: a cli-progress bar on a terminal; a log line every 30 s otherwise (CI, files). */
export interface ProgressState {
  done: number;
  total: number;
  accuracy: number;
  active: number;
  detail: string;
}

export class RunProgress {
  private bar: cliProgress.SingleBar | null = null;
  private lastLog = 0;
  private readonly start = performance.now();
  private readonly startDone: number;

  constructor(
    total: number,
    done: number,
    private readonly quiet = false,
  ) {
    this.startDone = done;
    if (process.stderr.isTTY && !quiet) {
      this.bar = new cliProgress.SingleBar(
        {
          format:
            ' {bar} {value}/{total} texts | batch {active} at accuracy {accuracy} | {detail} | ETA {eta_formatted}',
          barsize: 24,
          hideCursor: true,
          etaBuffer: 50,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, done, { accuracy: '-', active: 0, detail: '' });
    }
  }

  update(s: ProgressState): void {
    if (this.bar) {
      this.bar.setTotal(s.total);
      this.bar.update(s.done, { accuracy: s.accuracy.toFixed(3), active: s.active, detail: s.detail });
      return;
    }
    const now = performance.now();
    if (this.quiet || now - this.lastLog < 30_000) return;
    this.lastLog = now;
    const el = (now - this.start) / 1000;
    const rate = (s.done - this.startDone) / el;
    const eta = rate > 0 ? formatSeconds((s.total - s.done) / rate) : '?';
    process.stderr.write(
      `[${formatSeconds(el)}] ${s.done}/${s.total} texts, batch of ${s.active} at accuracy ${s.accuracy.toFixed(3)}, ${s.detail}, ETA ${eta}\n`,
    );
  }

  stop(): void {
    this.bar?.stop();
  }
}

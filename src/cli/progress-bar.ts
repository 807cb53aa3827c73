/** Progress for long runs: a cli-progress bar on a terminal; a log line every 30 s otherwise (CI, files). */
import cliProgress from 'cli-progress';
import { formatSeconds } from './progress-line.ts';

export interface ProgressState { done: number; total: number; accuracy: number; active: number; detail: string }

export class RunProgress {
  private bar: cliProgress.SingleBar | null = null;
  private lastLog = 0;
  private readonly start = performance.now();
  private readonly startDone: number;

  constructor(total: number, done: number, private readonly quiet = false) {
    this.startDone = done;
    if (process.stderr.isTTY && !quiet) {
      this.bar = new cliProgress.SingleBar({
        format: ' {bar} {value}/{total} texts | batch {active} at accuracy {accuracy} | {detail} | ETA {eta_formatted}',
        barsize: 24, hideCursor: true, etaBuffer: 50, stream: process.stderr,
      }, cliProgress.Presets.shades_classic);
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
    process.stderr.write(`[${formatSeconds(el)}] ${s.done}/${s.total} texts, batch of ${s.active} at accuracy ${s.accuracy.toFixed(3)}, ${s.detail}, ETA ${eta}\n`);
  }

  stop(): void {
    this.bar?.stop();
  }
}

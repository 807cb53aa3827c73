/** A one-line progress report on stderr: redrawn in place on a terminal, every few seconds otherwise. */
export class ProgressLine {
  private last = 0;
  private readonly start = performance.now();
  constructor(private readonly tty = process.stderr.isTTY === true, private readonly everyMs = tty ? 200 : 5000) {}

  update(text: (elapsedS: number) => string, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < this.everyMs) return;
    this.last = now;
    const line = text((now - this.start) / 1000);
    process.stderr.write(this.tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * One writer per run folder. A run holds `<run>/.lock` (process id, host, start time, last heartbeat, command) while
 * it works; a second process on the same folder is refused with a message naming the holder. A lock whose process is
 * gone (same host, no such PID) or whose heartbeat stopped long ago (another host sharing the folder) is stale and is
 * taken over, with a note.
 *
 * Hand-written rather than a library: creating the file with O_CREAT|O_EXCL ('wx') is atomic on local file systems,
 * and the holder's PID and host in the file let the refusal say who holds the run, which mkdir-style lock libraries
 * do not record.
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../files.ts';

export const LOCK_FILE = '.lock';
/** A lock from another host counts as stale when its heartbeat is older than this. */
const FOREIGN_STALE_MS = 10 * 60_000;

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  alive: string;
  command: string;
}

export class RunLockedError extends Error {}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function readHolder(file: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Why a holder no longer holds the lock, or null when it still does. */
function staleReason(h: LockHolder | null, now = Date.now()): string | null {
  if (h === null) return 'unreadable lock file';
  if (h.host === hostname()) return processAlive(h.pid) ? null : `process ${h.pid} is no longer running`;
  const age = now - Date.parse(h.alive);
  return Number.isFinite(age) && age > FOREIGN_STALE_MS ? `no heartbeat from ${h.host} for ${Math.round(age / 60_000)} min` : null;
}

function ago(iso: string): string {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s)) return '?';
  return s < 120 ? `${Math.round(s)} s ago` : `${Math.round(s / 60)} min ago`;
}

/** The live holder of a folder's lock, or null when there is no lock or it is stale. */
export function lockHolder(dir: string): (LockHolder & { ago: string }) | null {
  const file = join(dir, LOCK_FILE);
  if (!existsSync(file)) return null;
  const h = readHolder(file);
  return h !== null && staleReason(h) === null ? { ...h, ago: ago(h.alive) } : null;
}

export class RunLock {
  private released = false;

  private constructor(readonly file: string, private readonly holder: LockHolder) {}

  /** Takes the run folder's lock, or throws RunLockedError naming the holder. `log` hears about stale locks taken over. */
  static acquire(dir: string, command: string, log: (s: string) => void = () => {}): RunLock {
    const file = join(dir, LOCK_FILE);
    const now = new Date().toISOString();
    const holder: LockHolder = { pid: process.pid, host: hostname(), started: now, alive: now, command };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = openSync(file, 'wx');
        try {
          writeSync(fd, JSON.stringify(holder) + '\n');
        } finally {
          closeSync(fd);
        }
        return new RunLock(file, holder);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const other = readHolder(file);
      if (other === null && attempt === 0) {
        // Just created by another process that has not written its details yet: look again.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
      const why = staleReason(other);
      if (why === null) {
        throw new RunLockedError(`${dir} is in use by process ${other!.pid} on ${other!.host} (started ${other!.started}, ` +
          `last heartbeat ${ago(other!.alive)}: ${other!.command}); wait for it to finish or stop it, so that no text is crammed twice. ` +
          `If that process is gone, delete ${file}`);
      }
      // Move the stale lock aside (atomic), check it is the one we judged, then try again to create ours.
      const aside = `${file}.stale-${process.pid}`;
      try {
        renameSync(file, aside);
      } catch {
        continue; // someone else moved it first
      }
      const moved = readHolder(aside);
      if (other !== null && (moved === null || moved.pid !== other.pid || moved.started !== other.started)) {
        // A live process replaced the stale lock in between: put its lock back unless another already took the place.
        if (!existsSync(file)) renameSync(aside, file);
        continue;
      }
      rmSync(aside, { force: true });
      log(`took over a stale lock on ${dir} (${why})`);
    }
    throw new RunLockedError(`could not take the lock ${file} (other processes keep taking it)`);
  }

  /** Refreshes the heartbeat in the lock file. */
  refresh(): void {
    if (this.released) return;
    this.holder.alive = new Date().toISOString();
    const current = readHolder(this.file);
    if (current && current.pid === this.holder.pid && current.started === this.holder.started) writeFileAtomic(this.file, JSON.stringify(this.holder) + '\n');
  }

  /** Removes the lock file if it is still ours. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const current = readHolder(this.file);
    if (current && current.pid === this.holder.pid && current.started === this.holder.started) rmSync(this.file, { force: true });
  }
}

/**
 * One writer per run folder. A run holds `<run>/.lock` (process id, host, start time, last heartbeat, command) while
 * it works; a second process on the same folder is refused with a message naming the holder. A lock whose process is
 * gone (same host, no such PID) or whose heartbeat stopped long ago (another host sharing the folder) is stale and is
 * taken over, with a note. So is a lock whose PID now belongs to a process that started after the lock was taken (the
 * PID was reused: a restarted container, whose processes get the same PIDs again, or a reboot), and a lock taken inside
 * a SLURM job that squeue no longer lists (a task killed on a node that went away, resubmitted on another).
 *
 * Hand-written rather than a library: creating the file with O_CREAT|O_EXCL ('wx') is atomic on local file systems,
 * and the holder's PID and host in the file let the refusal say who holds the run, which mkdir-style lock libraries
 * do not record.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../files.ts';

export const LOCK_FILE = '.lock';
/** A lock from another host counts as stale when its heartbeat is older than this. */
const FOREIGN_STALE_MS = 10 * 60_000;
/** A same-host lock whose PID was reused counts as stale once its heartbeat is older than this. */
const REUSED_PID_QUIET_MS = 30_000;

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  alive: string;
  command: string;
  /** The SLURM job (one per array task) the holder ran in, when it ran in one. */
  slurm_job?: string;
}

export class RunLockedError extends Error {}

/** A process's state letter from /proc/<pid>/stat (R, S, Z…), or null where that cannot be read. */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] || null;
  } catch {
    return null;
  }
}

/** Whether a process runs: it exists and is not a zombie (a killed process its parent has not reaped yet). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: exists, owned by someone else
  }
  const state = processState(pid);
  return state !== 'Z' && state !== 'X';
}

function readHolder(file: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** When a process started (ms since the epoch), from /proc (Linux); null where that cannot be read. */
function processStartedAt(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, in parentheses): the 22nd field overall is the start time
    // in clock ticks since boot (100 per second on Linux).
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    return Number.isFinite(ticks) && Number.isFinite(btime) ? (btime + ticks / 100) * 1000 : null;
  } catch {
    return null;
  }
}

/** Whether squeue says a SLURM job is gone (true), still there (false), or cannot tell (null: no squeue here). */
function slurmJobGone(job: string): boolean | null {
  const r = spawnSync('squeue', ['-h', '-j', job, '-o', '%T'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return null;
  if (r.status === 0) return r.stdout.trim() === '';
  return /invalid job id/i.test(r.stderr ?? '') ? true : null;
}

/** Why a holder no longer holds the lock, or null when it still does. `askScheduler`: ask squeue about its SLURM job. */
function staleReason(h: LockHolder | null, now = Date.now(), askScheduler = false): string | null {
  if (h === null) return 'unreadable lock file';
  if (h.host === hostname()) {
    if (!processAlive(h.pid)) return `process ${h.pid} is no longer running`;
    // A live PID whose process started after the lock was taken is another process. Judged only once the heartbeat
    // (every 10 s) has stopped for REUSED_PID_QUIET_MS, so that a clock stepped since boot cannot make a live holder
    // look new; two seconds' slack for the boot time in /proc/stat, which is whole seconds.
    const started = processStartedAt(h.pid);
    const taken = Date.parse(h.started);
    const quiet = now - Date.parse(h.alive);
    return started !== null && Number.isFinite(taken) && started > taken + 2000 && quiet > REUSED_PID_QUIET_MS
      ? `process ${h.pid} started after the lock was taken and the lock's heartbeat stopped ${Math.round(quiet / 1000)} s ago: the PID was reused (a restarted container, a reboot)`
      : null;
  }
  if (askScheduler && typeof h.slurm_job === 'string' && /^\d+$/.test(h.slurm_job) && slurmJobGone(h.slurm_job))
    return `its SLURM job ${h.slurm_job} is no longer running`;
  const age = now - Date.parse(h.alive);
  return Number.isFinite(age) && age > FOREIGN_STALE_MS
    ? `no heartbeat from ${h.host} for ${Math.round(age / 60_000)} min`
    : null;
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

  private constructor(
    readonly file: string,
    private readonly holder: LockHolder,
  ) {}

  /** Takes the run folder's lock, or throws RunLockedError naming the holder. `log` hears about stale locks taken over. */
  static acquire(dir: string, command: string, log: (s: string) => void = () => {}): RunLock {
    return RunLock.acquireFile(join(dir, LOCK_FILE), command, log, {
      what: dir,
      why: 'so that no text is crammed twice',
    });
  }

  /** The same for any lock file (the memory service locks its store with `<store>.serve.lock`). */
  static acquireFile(
    file: string,
    command: string,
    log: (s: string) => void = () => {},
    name: { what: string; why: string } = { what: file, why: 'so that one process writes it' },
  ): RunLock {
    const dir = name.what;
    const now = new Date().toISOString();
    const job = process.env.SLURM_JOB_ID;
    const holder: LockHolder = {
      pid: process.pid,
      host: hostname(),
      started: now,
      alive: now,
      command,
      ...(job && /^\d+$/.test(job) ? { slurm_job: job } : {}),
    };
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
      const why = staleReason(other, Date.now(), true);
      if (why === null) {
        throw new RunLockedError(
          `${dir} is in use by process ${other!.pid} on ${other!.host} (started ${other!.started}, ` +
            `last heartbeat ${ago(other!.alive)}: ${other!.command}); wait for it to finish or stop it, ${name.why}. ` +
            `If that process is gone, delete ${file}`,
        );
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
    if (current && current.pid === this.holder.pid && current.started === this.holder.started)
      writeFileAtomic(this.file, JSON.stringify(this.holder) + '\n');
  }

  /** Removes the lock file if it is still ours. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const current = readHolder(this.file);
    if (current && current.pid === this.holder.pid && current.started === this.holder.started)
      rmSync(this.file, { force: true });
  }
}

/**
 * The server's side of the compression thread (compression-thread.main.ts): wakes it when a job is queued, mirrors its
 * progress, and stops it cleanly. If the thread dies (a native crash in a step, say), its running jobs are queued
 * again and a new thread is started, a few times at most; the HTTP side keeps serving either way.
 */
import { Worker } from 'node:worker_threads';
import type { ServeDb } from './db.ts';
import type { FromThread, ThreadData, ToThread } from './compression-thread.main.ts';
import { estimateWait, type JobProgress, type QueueWorker, type WorkerOptions } from './queue.ts';

export class ThreadWorker implements QueueWorker {
  readonly progress = new Map<number, JobProgress>();
  totals = { batches: 0, done: 0, failed: 0 };
  private secondsPerBatch = 30;
  /** The thread's V8 heap in use, as last reported. */
  heapUsed: number | null = null;
  storeError: string | null = null;
  private thread: Worker | null = null;
  private stopping = false;
  private restarts = 0;
  private ready: Promise<void> = Promise.resolve();
  private stopped: (() => void) | null = null;

  constructor(
    private readonly db: ServeDb,
    private readonly data: Omit<ThreadData, 'options'>,
    private readonly opts: WorkerOptions,
  ) {}

  start(): void {
    if (this.thread || this.stopping) return;
    const { onJob, ...options } = this.opts;
    const thread = new Worker(new URL('./compression-thread.boot.mjs', import.meta.url), {
      workerData: { ...this.data, options } satisfies ThreadData,
    });
    this.thread = thread;
    let markReady: () => void;
    this.ready = new Promise((r) => {
      markReady = r;
    });
    thread.on('message', (m: FromThread) => {
      if (m.type === 'ready') markReady();
      else if (m.type === 'progress') {
        this.progress.clear();
        for (const [n, p] of m.progress) this.progress.set(n, p as JobProgress);
        this.totals = m.totals;
        this.secondsPerBatch = m.secondsPerBatch;
        this.heapUsed = m.heapUsed;
        this.storeError = m.storeError;
      } else if (m.type === 'job') {
        this.progress.delete(m.n);
        onJob?.(m.n, m.status, m.detail);
      } else if (m.type === 'stopped') this.stopped?.();
      else if (m.type === 'fatal')
        process.stderr.write(`serve: the compression thread could not start: ${m.message}\n`);
    });
    thread.on('error', (e) => process.stderr.write(`serve: compression thread error: ${e.stack ?? e.message}\n`));
    thread.on('exit', (code) => {
      this.thread = null;
      markReady();
      this.stopped?.();
      if (this.stopping) return;
      this.progress.clear();
      const requeued = this.db.requeueInterrupted();
      if (this.restarts >= 5) {
        process.stderr.write(
          `serve: the compression thread exited (code ${code}) ${this.restarts} times; jobs stay queued until the server restarts\n`,
        );
        return;
      }
      this.restarts++;
      process.stderr.write(
        `serve: the compression thread exited (code ${code}); ${requeued.length} running job(s) queued again; restarting it\n`,
      );
      setTimeout(() => this.start(), 1000).unref();
    });
  }

  wake(): void {
    this.thread?.postMessage({ type: 'wake' } satisfies ToThread);
  }

  estimatedWaitSeconds(pending: number): number {
    return estimateWait(pending, this.opts.batchTexts, this.secondsPerBatch);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const thread = this.thread;
    if (!thread) return;
    await this.ready;
    const done = new Promise<void>((resolve) => {
      this.stopped = resolve;
    });
    thread.postMessage({ type: 'stop' } satisfies ToThread);
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 60_000).unref());
    await Promise.race([done, timeout]);
    await thread.terminate();
  }
}

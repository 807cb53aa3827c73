/**
 * The background compression queue. One loop: claim every queued job that fits one batch (oldest first), compress
 * them together with compressMany (all their segments share each round's cramAll batches), and commit each job as
 * soon as its text is done or has failed. Jobs that arrive while a batch runs join it at its next round, while it has
 * room (batchTexts, batchTokens); a short wait after an idle wake-up (batchWaitMs) lets requests sent together land
 * in the batch's first round.
 *
 * Nothing here can take the server down: a job's error marks that job failed with its message; an unexpected error
 * in a batch marks the batch's unfinished jobs failed.
 */
import { compressMany, CompressAborted, type CompressProgress, type OpenModel } from '../compress/compress.ts';
import { compressionFigures } from '../compress/figures.ts';
import { serializeMemoryFile, totalVectors } from '../compress/memory-file.ts';
import { memoryId, type MemoryRow, type ServeDb } from './db.ts';

export interface CompressSettings {
  segmentTokens: number;
  tokensPerVector: number;
  maxSteps: number;
  patience: number;
  maxMem?: number;
  seed: number;
}

export interface WorkerOptions {
  compress: CompressSettings;
  /** Most texts compressed together. */
  batchTexts: number;
  /** Most text tokens in one batch (a longer text still runs, alone). */
  batchTokens: number;
  /** After an idle wake-up, wait this long for more requests before starting a batch. */
  batchWaitMs: number;
  /** Called with each finished job (tests, logs). */
  onJob?: (n: number, status: 'done' | 'failed', detail: string) => void;
}

export interface JobProgress {
  phase: CompressProgress['phase'];
  round: number;
  segments: number;
  segments_exact: number;
  k_values: number[];
  round_steps: number;
  mean_accuracy: number;
  batch: { id: number; texts: number };
}

/** What the server needs from the queue's worker, in this thread (CompressWorker) or another (ThreadWorker). */
export interface QueueWorker {
  /** Live progress of running jobs. */
  readonly progress: Map<number, JobProgress>;
  readonly totals: { batches: number; done: number; failed: number };
  /** V8 heap in use by the worker's thread, when it has its own (null: it shares the server's). */
  readonly heapUsed?: number | null;
  start(): void;
  /** A job was queued. */
  wake(): void;
  /** Seconds until a newly queued job could expect to start, roughly (Retry-After). */
  estimatedWaitSeconds(pending: number): number;
  /** Stops after the current step; the running batch's unfinished jobs go back to the queue. */
  stop(): Promise<void>;
}

export function estimateWait(pending: number, batchTexts: number, secondsPerBatch: number): number {
  return Math.max(1, Math.ceil(Math.ceil(pending / Math.max(1, batchTexts)) * secondsPerBatch));
}

export class CompressWorker implements QueueWorker {
  /** Live progress of running jobs (kept in memory only; a job's row holds its status). */
  readonly progress = new Map<number, JobProgress>();
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private batchId = 0;
  /** Seconds per batch, smoothed over recent batches (for Retry-After). */
  secondsPerBatch = 30;
  readonly totals = { batches: 0, done: 0, failed: 0 };

  constructor(private readonly db: ServeDb, private readonly model: OpenModel, private readonly opts: WorkerOptions) {}

  start(): void {
    if (!this.loop) this.loop = this.run();
  }

  wake(): void {
    this.wakeUp?.();
  }

  estimatedWaitSeconds(pending: number): number {
    return estimateWait(pending, this.opts.batchTexts, this.secondsPerBatch);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.loop;
  }

  private async idle(): Promise<boolean> {
    await new Promise<void>((resolve) => {
      this.wakeUp = resolve;
      // Also look again now and then: another process may share the database (the CLI), and a wake-up is cheap.
      setTimeout(resolve, 5000).unref();
    });
    this.wakeUp = null;
    if (this.stopping) return false;
    await new Promise((r) => setTimeout(r, this.opts.batchWaitMs));
    return true;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let rows: MemoryRow[];
      try {
        rows = this.db.claim(this.opts.batchTexts, this.opts.batchTokens);
      } catch (e) {
        process.stderr.write(`serve: cannot read the queue: ${(e as Error).message}\n`);
        rows = [];
      }
      if (rows.length === 0) {
        if (!(await this.idle())) break;
        continue;
      }
      await this.runBatch(rows);
    }
  }

  private async runBatch(rows: MemoryRow[]): Promise<void> {
    const batch = { id: ++this.batchId, texts: rows.length };
    const t0 = performance.now();
    const settled = new Set<number>();
    const tok = this.model.tokenizer!;
    const settle = (n: number, status: 'done' | 'failed', detail: string) => {
      settled.add(n);
      this.progress.delete(n);
      this.totals[status]++;
      this.opts.onJob?.(n, status, detail);
    };
    const failJob = (n: number, message: string) => {
      try {
        this.db.fail(n, message);
      } catch (e) {
        process.stderr.write(`serve: cannot record the failure of ${memoryId(n)}: ${(e as Error).message}\n`);
      }
      settle(n, 'failed', message);
    };
    const started = (more: MemoryRow[]) => {
      for (const r of more) this.progress.set(r.n, { phase: 'cram', round: 0, segments: 0, segments_exact: 0, k_values: [], round_steps: 0, mean_accuracy: 0, batch });
    };
    started(rows);
    // Jobs queued meanwhile join at a round boundary, within the batch's limits.
    const admit = () => {
      if (this.stopping) return [];
      const open = rows.filter((r) => !settled.has(r.n));
      const room = this.opts.batchTexts - open.length;
      const tokens = this.opts.batchTokens - open.reduce((a, r) => a + r.tokens, 0);
      if (room <= 0 || tokens <= 0) return [];
      let more: MemoryRow[];
      try {
        more = this.db.claim(room, tokens, false);
      } catch (e) {
        process.stderr.write(`serve: cannot read the queue: ${(e as Error).message}\n`);
        return [];
      }
      rows.push(...more);
      batch.texts = rows.length;
      started(more);
      return more.map((r) => r.text ?? '');
    };
    try {
      await compressMany(rows.map((r) => r.text ?? ''), {
        model: this.model, ...this.opts.compress,
        onProgress: (i, p) => {
          this.progress.set(rows[i].n, {
            phase: p.phase, round: p.round, segments: p.segments, segments_exact: p.exact, k_values: p.kValues,
            round_steps: p.stepsDone, mean_accuracy: Number(p.meanAccuracy.toFixed(4)), batch,
          });
        },
        shouldStop: () => this.stopping,
        isCancelled: (i) => !this.db.exists(rows[i].n),
        admit,
        onText: async (i, r) => {
          const row = rows[i];
          if (!r.ok) {
            failJob(row.n, r.error.message);
            return;
          }
          try {
            const mf = r.file;
            const bytes = serializeMemoryFile(mf);
            const text = row.text!;
            const fig = await compressionFigures(this.model.engine, text, tok.encode(text), tok.bosId, bytes.byteLength);
            const k = totalVectors(mf);
            const stats = {
              ...fig, vectors: k, segments: mf.segments.length, tokens_per_vector: k ? Number((mf.nTokens / k).toFixed(3)) : null,
              rounds: mf.stats.rounds, batched_steps: mf.stats.batched_steps, compress_seconds: mf.stats.seconds,
              queued_seconds: Number(((Date.parse(row.started!) - Date.parse(row.created)) / 1000).toFixed(2)), batch, runs: row.runs,
            };
            if (this.db.complete(row.n, mf, bytes, stats)) settle(row.n, 'done', `${k} vectors`);
            else settle(row.n, 'failed', 'deleted while running');
          } catch (e) {
            failJob(row.n, `could not store the result: ${(e as Error).message}`);
          }
        },
      });
      const secs = (performance.now() - t0) / 1000;
      this.secondsPerBatch = 0.5 * this.secondsPerBatch + 0.5 * secs;
      this.totals.batches++;
    } catch (e) {
      const open = rows.filter((r) => !settled.has(r.n));
      if (e instanceof CompressAborted) {
        // A clean shutdown: the jobs go back to the queue and run from their start next time.
        this.db.requeue(open.map((r) => r.n));
        for (const r of open) this.progress.delete(r.n);
      } else {
        for (const r of open) failJob(r.n, `compression failed: ${(e as Error).message}`);
      }
    }
  }
}

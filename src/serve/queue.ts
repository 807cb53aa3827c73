/**
 * The background compression queue. One loop: claim every queued job that fits one batch (oldest first), compress
 * them together with compressMany (all their segments share each round's cramAll batches), and commit each job as
 * soon as its text is done or has failed. Jobs that arrive while a batch runs join it at its next round, while it has
 * room (batchTexts, batchTokens); a short wait after an idle wake-up (batchWaitMs) lets requests sent together land
 * in the batch's first round.
 *
 * Nothing here can take the server down: a job's error marks that job failed with its message; an unexpected error
 * in a batch marks the batch's unfinished jobs failed. When the store cannot be written (read-only, disk full), the
 * worker says so (`storeError`, the health route's `degraded`), keeps the results it could not record and writes them,
 * and claims queued jobs again, as soon as the store takes writes again.
 *
 * After each round a job's checkpoint (its finished segments) is saved with it: a crash resumes it from there.
 */
import {
  compressMany,
  CompressAborted,
  type CompressCheckpoint,
  type CompressProgress,
  type CompressResult,
  type OpenModel,
} from '../compress/compress.ts';
import { DEFAULTS } from '../compress/defaults.ts';
import { compressionBaselines } from '../compress/baselines.ts';
import { serializeMemoryFile, totalVectors, type MemoryFile } from '../compress/memory-file.ts';
import { isStoreWriteError, memoryId, type ModelIdentity, type MemoryRow, type ServeDb } from './db.ts';

/** The identity a model's memories and jobs are recorded under. */
export function modelIdentity(model: OpenModel): ModelIdentity {
  const tokenizer = model.tokenizer?.fingerprint ?? '';
  return { name: model.name, weights_sha256: model.weightsSha256, tokenizer_sha256: tokenizer };
}

const bytesOf = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/**
 * Segment lengths tried, in turn, for a text that could not be one sequence: each is tried only for the texts that
 * had a segment not exact at its limit in the one before.
 */
export const FALLBACK_SEGMENT_TOKENS = [DEFAULTS.segmentTokens, 6, 3];

/**
 * A checkpoint as bytes: one JSON line (plan hash, rounds, steps, K per segment, which are done; a progressive text's
 * passed length, next stage and optimizer step), then the vectors (done segments; then a progressive text's vectors
 * and, when kept, its optimizer moments m and v).
 */
export function serializeCheckpoint(c: CompressCheckpoint): Buffer {
  const w = c.warm;
  const head = Buffer.from(
    JSON.stringify({
      planSha256: c.planSha256,
      rounds: c.rounds,
      steps: c.steps,
      kOf: c.kOf,
      stepsOf: c.stepsOf,
      done: c.done.map((v) => v !== null),
      ...(w ? { warm: { passed: w.passed, start: w.start, adamStep: w.adam?.step ?? null } } : {}),
    }) + '\n',
  );
  const vecs = c.done.filter((v): v is Float32Array => v !== null).map(bytesOf);
  const warm = w ? [w.vectors, ...(w.adam ? [w.adam.m, w.adam.v] : [])].map(bytesOf) : [];
  return Buffer.concat([head, ...vecs, ...warm]);
}

/** The checkpoint in the bytes, or null when they are not one (an unreadable checkpoint only costs a restart). */
export function parseCheckpoint(b: Buffer | null | undefined, d: number): CompressCheckpoint | null {
  if (!b) return null;
  try {
    const nl = b.indexOf(10);
    const h = JSON.parse(b.subarray(0, nl).toString('utf8')) as {
      planSha256: string;
      rounds: number;
      steps: number;
      kOf: number[];
      stepsOf?: number[];
      done: boolean[];
      warm?: { passed: number; start: number; adamStep: number | null };
    };
    let at = nl + 1;
    const take = (n: number) => {
      if (at + n * 4 > b.length) throw new Error('short checkpoint');
      const v = new Float32Array(n);
      Buffer.from(v.buffer).set(b.subarray(at, at + n * 4));
      at += n * 4;
      return v;
    };
    const done = h.done.map((isDone, i) => (isDone ? take(h.kOf[i] * d) : null));
    let warm: CompressCheckpoint['warm'];
    if (h.warm) {
      const n = h.kOf[0] * d;
      const vectors = take(n);
      const adam = h.warm.adamStep === null ? null : { m: take(n), v: take(n), step: h.warm.adamStep };
      warm = { passed: h.warm.passed, start: h.warm.start, vectors, adam };
    }
    if (at !== b.length || typeof h.planSha256 !== 'string') return null;
    const stepsOf = h.stepsOf ? { stepsOf: h.stepsOf } : {};
    return {
      planSha256: h.planSha256,
      rounds: h.rounds,
      steps: h.steps,
      kOf: h.kOf,
      done,
      ...stepsOf,
      ...(warm ? { warm } : {}),
    };
  } catch {
    return null;
  }
}

export interface CompressSettings {
  segmentTokens: number;
  tokensPerVector: number;
  maxSteps: number;
  /** Step escalation ceiling (default 4 × maxSteps). */
  maxStepsCeiling?: number;
  patience: number;
  maxMem?: number;
  seed: number;
  /** Cram one-sequence texts by progressive growth (default true; false: rounds from fresh vectors, as before). */
  progressive?: boolean;
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
  /** Why the worker cannot write the store now (null: it can); its jobs wait and are retried. */
  readonly storeError: string | null;
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
  storeError: string | null = null;
  /** Results finished while the store could not be written: recorded as soon as it can be. */
  private readonly unrecorded: (
    | { n: number; status: 'done'; mf: MemoryFile; bytes: Buffer; stats: Record<string, unknown> }
    | { n: number; status: 'failed'; message: string }
  )[] = [];
  private readonly identity: ModelIdentity;
  /** How long to wait before trying the store again after a write failed. */
  retryMs = 2000;
  /** A job was queued since the running batch last looked (it looks between steps only then, or every 2 s). */
  private woken = false;
  private lastLook = 0;

  constructor(
    private readonly db: ServeDb,
    private readonly model: OpenModel,
    private readonly opts: WorkerOptions,
  ) {
    this.identity = modelIdentity(model);
  }

  /** Runs a store write; a write failure (read-only, full) is remembered as storeError and thrown again. */
  private write<T>(what: string, f: () => T): T {
    try {
      const r = f();
      if (this.storeError !== null) process.stderr.write('serve: the store takes writes again\n');
      this.storeError = null;
      return r;
    } catch (e) {
      if (isStoreWriteError(e)) {
        const why = (e as Error).message;
        if (this.storeError === null) {
          process.stderr.write(
            `serve: cannot write the store (${what}): ${why}; retrying every ${this.retryMs / 1000} s\n`,
          );
        }
        this.storeError = `cannot ${what}: ${why} (the store ${this.db.path} must be writable; jobs wait and are retried)`;
      }
      throw e;
    }
  }

  /** Records the results kept while the store could not be written; true when none are left. */
  private flush(): boolean {
    while (this.unrecorded.length > 0) {
      const u = this.unrecorded[0];
      try {
        const ok = this.write('record a finished job', () =>
          u.status === 'done' ? this.db.complete(u.n, u.mf, u.bytes, u.stats) : this.db.fail(u.n, u.message),
        );
        this.unrecorded.shift();
        if (u.status === 'done' && ok) this.settledAsRecorded(u.n, `${totalVectors(u.mf)} vectors`);
        else this.settled(u.n, 'failed', u.status === 'done' ? 'deleted while running' : u.message);
      } catch (e) {
        if (!isStoreWriteError(e)) {
          process.stderr.write(`serve: cannot record ${memoryId(u.n)}: ${(e as Error).message}\n`);
          this.unrecorded.shift();
          continue;
        }
        return false;
      }
    }
    return true;
  }

  /**
   * A job the store took as finished: counted as the store recorded it (a session's text that came out in segments is
   * recorded failed, its messages kept as text: ServeDb.complete).
   */
  private settledAsRecorded(n: number, detail: string): void {
    const row = this.db.get(n);
    if (row?.status === 'failed') this.settled(n, 'failed', row.error ?? 'failed');
    else this.settled(n, 'done', detail);
  }

  private settled(n: number, status: 'done' | 'failed', detail: string): void {
    this.progress.delete(n);
    this.totals[status]++;
    this.opts.onJob?.(n, status, detail);
  }

  start(): void {
    if (!this.loop) this.loop = this.run();
  }

  wake(): void {
    this.woken = true;
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

  private async pause(): Promise<boolean> {
    await new Promise<void>((resolve) => {
      this.wakeUp = resolve;
      setTimeout(resolve, this.retryMs).unref();
    });
    this.wakeUp = null;
    return !this.stopping;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!this.flush()) {
        if (!(await this.pause())) break;
        continue;
      }
      let rows: MemoryRow[];
      try {
        const { batchTexts, batchTokens } = this.opts;
        rows = this.write('claim queued jobs', () => this.db.claim(this.identity, batchTexts, batchTokens));
      } catch (e) {
        if (!isStoreWriteError(e)) process.stderr.write(`serve: cannot read the queue: ${(e as Error).message}\n`);
        if (!(await this.pause())) break;
        continue;
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
      this.settled(n, status, detail);
    };
    const failJob = (n: number, message: string) => {
      try {
        this.write('record a failed job', () => this.db.fail(n, message));
      } catch (e) {
        settled.add(n);
        if (isStoreWriteError(e)) {
          this.unrecorded.push({ n, status: 'failed', message });
          return;
        }
        process.stderr.write(`serve: cannot record the failure of ${memoryId(n)}: ${(e as Error).message}\n`);
      }
      settle(n, 'failed', message);
    };
    const started = (more: MemoryRow[]) => {
      for (const r of more)
        this.progress.set(r.n, {
          phase: 'cram',
          round: 0,
          segments: 0,
          segments_exact: 0,
          k_values: [],
          round_steps: 0,
          mean_accuracy: 0,
          batch,
        });
    };
    started(rows);
    // Jobs queued meanwhile join the running batch between two steps, within the batch's limits.
    const admit = () => {
      if (this.stopping) return [];
      // Between steps, the store is read only after a wake-up (a job was posted), or every 2 s (another process).
      const now = performance.now();
      if (!this.woken && now - this.lastLook < 2000) return [];
      this.woken = false;
      this.lastLook = now;
      const open = rows.filter((r) => !settled.has(r.n));
      const room = this.opts.batchTexts - open.length;
      const tokens = this.opts.batchTokens - open.reduce((a, r) => a + r.tokens, 0);
      if (room <= 0 || tokens <= 0) return [];
      let more: MemoryRow[];
      try {
        more = this.write('claim queued jobs', () => this.db.claim(this.identity, room, tokens, false));
      } catch (e) {
        if (!isStoreWriteError(e)) process.stderr.write(`serve: cannot read the queue: ${(e as Error).message}\n`);
        return [];
      }
      rows.push(...more);
      batch.texts = rows.length;
      started(more);
      return more.map(input);
    };
    const fallback: { row: MemoryRow; reason: string }[] = [];
    /** Stores a finished text, or fails its job; `oneSequence`: why it had to be crammed in segments. */
    const record = async (row: MemoryRow, r: CompressResult, oneSequence?: string): Promise<void> => {
      if (!r.ok) {
        failJob(row.n, oneSequence ? `${r.error.message} (as one sequence: ${oneSequence})` : r.error.message);
        return;
      }
      try {
        const mf = r.file;
        const bytes = serializeMemoryFile(mf);
        const text = row.text!;
        const fig = await compressionBaselines(
          this.model.compiled,
          text,
          tok.encode(text),
          tok.bosId,
          bytes.byteLength,
        );
        const k = totalVectors(mf);
        const stats = {
          ...fig,
          vectors: k,
          segments: mf.segments.length,
          tokens_per_vector: k ? Number((mf.nTokens / k).toFixed(3)) : null,
          rounds: mf.stats.rounds,
          batched_steps: mf.stats.batched_steps,
          // Stored after the one-sequence try: both tries, from the job's start (this run's).
          compress_seconds: oneSequence
            ? Number(((Date.now() - Date.parse(row.started!)) / 1000).toFixed(2))
            : mf.stats.seconds,
          // (A text of one segment's length is one sequence again, from fresh vectors, with more of them.)
          ...(oneSequence && mf.segments.length > 1 ? { layout: 'segments', one_sequence_error: oneSequence } : {}),
          queued_seconds: Number(((Date.parse(row.started!) - Date.parse(row.created)) / 1000).toFixed(2)),
          batch,
          runs: row.runs,
        };
        let ok: boolean;
        try {
          ok = this.write('record a finished job', () => this.db.complete(row.n, mf, bytes, stats));
        } catch (e) {
          if (!isStoreWriteError(e)) throw e;
          settled.add(row.n);
          this.unrecorded.push({ n: row.n, status: 'done', mf, bytes, stats });
          return;
        }
        settled.add(row.n);
        if (ok) this.settledAsRecorded(row.n, `${k} vectors`);
        else this.settled(row.n, 'failed', 'deleted while running');
      } catch (e) {
        failJob(row.n, `could not store the result: ${(e as Error).message}`);
      }
    };
    const d = this.model.model.embedDim;
    const input = (r: MemoryRow) => ({ text: r.text ?? '', resume: parseCheckpoint(r.checkpoint, d) });
    try {
      await compressMany(rows.map(input), {
        model: this.model,
        // A text crammed as one sequence grows in stages, warm-started (docs/compressor.md); --segment-tokens
        // shorter than a text keeps the segmented rounds for it.
        progressive: true,
        ...this.opts.compress,
        onProgress: (i, p) => {
          this.progress.set(rows[i].n, {
            phase: p.phase,
            round: p.round,
            segments: p.segments,
            segments_exact: p.exact,
            k_values: p.kValues,
            round_steps: p.stepsDone,
            mean_accuracy: Number(p.meanAccuracy.toFixed(4)),
            batch,
          });
        },
        shouldStop: () => this.stopping,
        isCancelled: (i) => {
          try {
            return !this.db.exists(rows[i].n);
          } catch {
            return false;
          }
        },
        admit,
        onCheckpoint: (i, c) => {
          try {
            this.write('save a checkpoint', () => this.db.saveCheckpoint(rows[i].n, serializeCheckpoint(c)));
          } catch (e) {
            if (!isStoreWriteError(e)) {
              process.stderr.write(
                `serve: cannot save the checkpoint of ${memoryId(rows[i].n)}: ${(e as Error).message}\n`,
              );
            }
          }
        },
        onText: async (i, r) => {
          const row = rows[i];
          // Crammed as one sequence and not exact at the limit: tried again in short segments (below), so that the
          // text is still stored and comes back; such a memory cannot open a prompt (422, the message says why). A
          // text no longer than a segment is one segment there: one sequence again, with up to 4 vectors per token.
          // Not a session's text: in segments it could not replace the session's messages (ServeDb.complete).
          if (
            !r.ok &&
            row.session_id === null &&
            this.opts.compress.segmentTokens >= row.tokens &&
            /was not reproduced exactly/.test(r.error.message)
          ) {
            fallback.push({ row, reason: r.error.message });
            return;
          }
          await record(row, r);
        },
      });
      // In segments: 12 tokens, then (for a text with a segment still not exact at its limit) 6, then 3: a weak model
      // (gutenberg-llama-xs) cannot make a few 12-token held-out segments exact with any K up to 4 per token, and
      // makes their halves exact with far fewer (docs/compressor.md).
      let again = fallback.filter((f) => !settled.has(f.row.n));
      for (const [rung, segmentTokens] of FALLBACK_SEGMENT_TOKENS.entries()) {
        if (again.length === 0 || this.stopping) break;
        const last = rung === FALLBACK_SEGMENT_TOKENS.length - 1;
        const tried = again;
        const retry: typeof again = [];
        await compressMany(
          tried.map((f) => ({ text: f.row.text ?? '' })),
          {
            model: this.model,
            ...this.opts.compress,
            progressive: false,
            segmentTokens,
            shouldStop: () => this.stopping,
            isCancelled: (i) => {
              try {
                return !this.db.exists(tried[i].row.n);
              } catch {
                return false;
              }
            },
            onText: async (i, r) => {
              if (!r.ok && !last && /was not reproduced exactly/.test(r.error.message)) retry.push(tried[i]);
              else await record(tried[i].row, r, tried[i].reason);
            },
          },
        );
        again = retry;
      }
      const secs = (performance.now() - t0) / 1000;
      this.secondsPerBatch = 0.5 * this.secondsPerBatch + 0.5 * secs;
      this.totals.batches++;
    } catch (e) {
      const open = rows.filter((r) => !settled.has(r.n));
      if (e instanceof CompressAborted) {
        // A clean shutdown: the jobs go back to the queue and resume from their checkpoints next time.
        try {
          this.db.requeue(open.map((r) => r.n));
        } catch (e) {
          process.stderr.write(`serve: cannot requeue: ${(e as Error).message}\n`);
        }
        for (const r of open) this.progress.delete(r.n);
      } else {
        for (const r of open) failJob(r.n, `compression failed: ${(e as Error).message}`);
      }
    }
  }
}

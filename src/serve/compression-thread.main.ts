/**
 * The compression queue in its own thread. ONNX Runtime's `run` computes on the calling thread (onnxruntime-node
 * wraps a synchronous call in a promise), so a cramming step of a batch would hold the HTTP event loop for its whole
 * duration; here it holds only this thread's. The thread has its own model sessions and its own SQLite connection
 * (WAL: the server's connection reads and writes alongside); it reports progress and finished jobs by message.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { openModel } from '../cram/compiled-model.ts';
import type { BackendChoice } from '../engine/backends.ts';
import { ServeDb } from './db.ts';
import { CompressWorker, type WorkerOptions } from './queue.ts';

export interface ThreadData {
  modelDir: string;
  backend: BackendChoice;
  store: string;
  options: Omit<WorkerOptions, 'onJob'>;
}

export type ToThread = { type: 'wake' } | { type: 'stop' };
export type FromThread =
  | { type: 'ready' }
  | {
      type: 'progress';
      progress: [number, unknown][];
      totals: CompressWorker['totals'];
      secondsPerBatch: number;
      heapUsed: number;
      storeError: string | null;
    }
  | { type: 'job'; n: number; status: 'done' | 'failed'; detail: string }
  | { type: 'stopped' }
  | { type: 'fatal'; message: string };

const port = parentPort!;
const post = (m: FromThread) => port.postMessage(m);
const data = workerData as ThreadData;

try {
  const model = await openModel(data.modelDir, { backend: data.backend });
  const db = new ServeDb(data.store);
  let last = '';
  const snapshot = (force = false) => {
    const progress = [...worker.progress];
    const key = JSON.stringify([progress, worker.totals, worker.storeError]);
    if (!force && key === last) return;
    last = key;
    post({
      type: 'progress',
      progress,
      totals: worker.totals,
      secondsPerBatch: worker.secondsPerBatch,
      heapUsed: getHeapStatistics().used_heap_size,
      storeError: worker.storeError,
    });
  };
  const worker: CompressWorker = new CompressWorker(db, model, {
    ...data.options,
    onJob: (n, status, detail) => {
      snapshot(true);
      post({ type: 'job', n, status, detail });
    },
  });
  const timer = setInterval(() => snapshot(), 200);
  port.on('message', (m: ToThread) => {
    if (m.type === 'wake') worker.wake();
    else if (m.type === 'stop') {
      void (async () => {
        clearInterval(timer);
        await worker.stop();
        db.close();
        await model.compiled.release();
        post({ type: 'stopped' });
        port.close();
      })();
    }
  });
  worker.start();
  post({ type: 'ready' });
} catch (e) {
  post({ type: 'fatal', message: (e as Error).stack ?? String(e) });
}

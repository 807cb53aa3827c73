/**
 * A job posted while a batch runs joins it between two steps, not at the next round: a short memory queued while a
 * long one is being crammed is done first, in the same batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundled, fixture, open } from '../../helpers.ts';
import { sha256 } from '../../../src/cram/vector-file.ts';
import { ServeDb } from '../../../src/serve/db.ts';
import { CompressWorker, modelIdentity } from '../../../src/serve/queue.ts';

const model = await open(bundled('gutenberg-llama-s'));
const tok = model.tokenizer!;
const ids = tok.encode(readFileSync(fixture('heldout-passage.txt'), 'utf8'));

test(
  'a short job posted while a long one runs joins its batch at once and is done before it',
  { timeout: 600_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cram-admit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const db = new ServeDb(join(dir, 's.db'), { primary: true });
    const identity = modelIdentity(model);
    const job = (text: string) => ({
      model: identity,
      text,
      textSha256: sha256(text),
      tokens: tok.encode(text).length - 1,
      tags: [],
    });
    const order: number[] = [];
    let settledAll!: () => void;
    const allDone = new Promise<void>((r) => (settledAll = r));
    const worker = new CompressWorker(db, model, {
      compress: { segmentTokens: 4096, tokensPerVector: 3, maxSteps: 500, patience: 200, seed: 0 },
      batchTexts: 16,
      batchTokens: 4096,
      batchWaitMs: 0,
      onJob: (n, status, detail) => {
        assert.equal(status, 'done', detail);
        order.push(n);
        if (order.length === 2) settledAll();
      },
    });
    const long = db.enqueue(job(tok.decode(ids.slice(1, 33))), 10)!;
    worker.start();
    worker.wake();
    // Once the long job has taken steps in its first round, the short one is posted.
    for (let i = 0; i < 6000 && !(worker.progress.get(long)?.round_steps! > 2); i++)
      await new Promise((r) => setTimeout(r, 10));
    const first = worker.progress.get(long)!;
    assert.equal(first.round, 1);
    const short = db.enqueue(job(tok.decode(ids.slice(33, 39))), 10)!;
    worker.wake();
    let joined: { batch: number; round: number } | null = null;
    for (let i = 0; i < 6000 && joined === null && order.length === 0; i++) {
      const p = worker.progress.get(short);
      if (p) joined = { batch: p.batch.id, round: worker.progress.get(long)?.round ?? -1 };
      await new Promise((r) => setTimeout(r, 5));
    }
    await allDone;
    await worker.stop();
    db.close();
    assert.deepEqual(order, [short, long], 'the short job is done first');
    assert.ok(joined, 'the short job was seen running');
    assert.equal(joined.batch, first.batch.id, 'in the running batch');
    assert.equal(joined.round, 1, 'while the long job was still in its first round');
  },
);

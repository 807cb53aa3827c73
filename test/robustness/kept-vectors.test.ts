/**
 * The vectors `cram run` keeps (issue 26, item 6): the best accuracy, ties broken by the lower loss. A run whose
 * accuracy never improves after step 1 kept the random step-1 vectors, whose loss can be above the no-vector
 * baseline; now it keeps the lowest-loss vectors at that accuracy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cramAll, PAPER_SETTINGS, type CramOutcome } from '../../src/cram/cram.ts';
import { bundled, compiled } from '../helpers.ts';

test('kept vectors: best accuracy, ties broken by the lower loss', async () => {
  const engine = await compiled(bundled('gutenberg-llama-xs'));
  // Random tokens and a small learning rate: the accuracy stays flat while the loss falls.
  const ids = [0, 4711, 93, 2222, 7001, 15, 640, 3333, 5120, 77, 1999, 4242];
  const out: CramOutcome[] = [];
  await cramAll(
    engine,
    [{ key: 'flat', ids, nMem: 1 }],
    {
      ...PAPER_SETTINGS,
      optimizer: { ...PAPER_SETTINGS.optimizer, lr: 2e-3 },
      maxSteps: 12,
      patience: 1000,
      recordTrajectory: true,
    },
    {
      onFinish: (o) => {
        out.push(o);
      },
    },
  );
  const o = out[0];
  const { loss, accuracy } = o.trajectory!;
  assert.equal(o.bestAccuracy, Math.max(...accuracy));
  const atBest = loss.filter((_, i) => accuracy[i] === o.bestAccuracy);
  assert.ok(atBest.length > 1, `the accuracy reaches its best more than once (${accuracy.join(' ')})`);
  assert.equal(
    o.lossAtBestAccuracy,
    Math.min(...atBest),
    `kept loss ${o.lossAtBestAccuracy}; losses at the best accuracy ${atBest.join(' ')}`,
  );
  assert.equal(loss[o.bestStep - 1], o.lossAtBestAccuracy);
  assert.equal(accuracy[o.bestStep - 1], o.bestAccuracy);
  // The kept vectors are the ones measured: re-evaluated, they give the same accuracy and loss.
  const [re] = await engine.evaluate(1, o.memory, [ids]);
  assert.equal(re.accuracy, o.bestAccuracy);
  assert.ok(Math.abs(re.loss - o.lossAtBestAccuracy) < 1e-4 * Math.abs(o.lossAtBestAccuracy));
  await engine.release();
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bundled, fixture, open } from '../helpers.ts';
import { compressMany, decompress, type CompressResult } from '../../src/compress/compress.ts';

const loaded = await open(bundled('gutenberg-llama-s'));
const tok = loaded.tokenizer!;
const ids = tok.encode(readFileSync(fixture('heldout-passage.txt'), 'utf8'));
const a = tok.decode(ids.slice(1, 17));
const b = tok.decode(ids.slice(17, 31));

test('compressMany: texts share batches, each is finished on its own, and one bad text fails alone', async () => {
  const order: number[] = [];
  const segmentsSeen = new Map<number, number>();
  const results = await compressMany([a, 'broken \ud800 text', b], {
    model: loaded,
    segmentTokens: 8,
    tokensPerVector: 2,
    seed: 1,
    onText: (i) => {
      order.push(i);
    },
    onProgress: (i, p) => {
      segmentsSeen.set(i, p.segments);
    },
  });
  assert.deepEqual(
    results.map((r) => r.ok),
    [true, false, true],
  );
  assert.match(
    (results[1] as Extract<CompressResult, { ok: false }>).error.message,
    /does not reproduce this text exactly/,
  );
  assert.equal(order[0], 1, 'the bad text is reported first, before any optimisation');
  assert.deepEqual([...order].sort(), [0, 1, 2]);
  assert.deepEqual([segmentsSeen.get(0), segmentsSeen.get(2)], [2, 2]);
  for (const [i, text] of [
    [0, a],
    [2, b],
  ] as const) {
    const r = results[i] as Extract<CompressResult, { ok: true }>;
    assert.equal(await decompress(r.file, { model: loaded }), text);
  }
});

test('compressMany: a cancelled text is dropped at the next round; shouldStop aborts', async () => {
  const r = await compressMany([a, b], {
    model: loaded,
    segmentTokens: 8,
    tokensPerVector: 2,
    isCancelled: (i) => i === 0,
  });
  assert.equal(r[0].ok, false);
  assert.match((r[0] as Extract<CompressResult, { ok: false }>).error.message, /cancelled/);
  assert.equal(r[1].ok, true);
  await assert.rejects(
    compressMany([a], { model: loaded, shouldStop: () => true }),
    /compression stopped before it finished/,
  );
});

test('compressMany: texts admitted at a round boundary join the run and finish like the others', async () => {
  let calls = 0;
  const seen: number[] = [];
  const results = await compressMany([a], {
    model: loaded,
    segmentTokens: 8,
    tokensPerVector: 2,
    seed: 1,
    admit: () => (++calls === 1 ? [b] : []),
    onText: (i) => {
      seen.push(i);
    },
  });
  assert.ok(calls >= 1);
  assert.equal(results.length, 2);
  assert.deepEqual([...seen].sort(), [0, 1]);
  for (const [i, text] of [
    [0, a],
    [1, b],
  ] as const) {
    const r = results[i] as Extract<CompressResult, { ok: true }>;
    assert.equal(r.ok, true);
    assert.equal(await decompress(r.file, { model: loaded }), text);
  }
});

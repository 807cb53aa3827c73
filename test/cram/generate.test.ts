/** Incremental greedy decoding (key/value cache) against the full teacher-forced forward pass, batching, limits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { greedyGenerate, greedyGenerateMany, initialState } from '../../src/cram/generate.ts';
import { regenerateMany } from '../../src/cram/regenerate.ts';
import { bundled, compiled, hfFixture, hfFixtures, ready } from '../helpers.ts';

const rng = seedrandom('generate-test');

// Every reference fixture (test/fixtures/hf/<name>) and two bundled models. 2 vectors + 25 tokens pass the
// sliding windows of tiny-mistral (16, every layer), the Gemma fixtures and tiny-qwen2-sliding / tiny-smollm3-sliding-bias (8, layer 1 only), so
// cached decoding must mask by absolute position, layer by layer.
const FIXTURES = hfFixtures();
for (const name of ['gutenberg-llama-xs', 'stories260K', ...FIXTURES]) {
  test(`cached greedy decoding equals the argmax of the full forward pass: ${name}`, async () => {
    const dir = name.startsWith('tiny') ? hfFixture(name) : bundled(name);
    const engine = await compiled(dir);
    const d = engine.embedDim;
    const K = 2;
    const mem = Float32Array.from({ length: K * d }, () => (rng() - 0.5) * 4 * engine.model.embeddingStd());
    const first = 1;
    const gen = await greedyGenerate(engine, { parts: [{ vectors: mem }, { ids: [first] }], maxNew: 24 });
    assert.equal(gen.length, 24);
    // Every generated token is the argmax given what precedes it: teacher-forced accuracy of the continuation is 1.
    const [r] = await engine.evaluate(K, mem, [[first, ...gen]]);
    assert.equal(r.accuracy, 1, `teacher-forced accuracy of the greedy continuation: ${r.accuracy}`);
    await engine.release();
  });
}

test('rows decoded together equal rows decoded alone; a row stops at its own limit, mismatch or EOS', async () => {
  const engine = await compiled(bundled('gutenberg-llama-xs'));
  const d = engine.embedDim;
  const mems = [0, 1, 2].map(() => Float32Array.from({ length: d }, () => (rng() - 0.5) * 0.5));
  const alone = [];
  for (const m of mems)
    alone.push(await greedyGenerate(engine, { parts: [{ vectors: m }, { ids: [0, 5] }], maxNew: 12 }));
  const together = await greedyGenerateMany(
    engine,
    mems.map((m, i) => ({ parts: [{ vectors: m }, { ids: [0, 5] }], maxNew: i === 2 ? 4 : 12 })),
  );
  assert.deepEqual(together[0], alone[0]);
  assert.deepEqual(together[1], alone[1]);
  assert.deepEqual(together[2], alone[2].slice(0, 4));
  // Stop at the first mismatch with an expected continuation, and after an EOS id.
  const expected = [...alone[0].slice(0, 3), -1, ...alone[0].slice(4)];
  const [cut] = await greedyGenerateMany(engine, [
    { parts: [{ vectors: mems[0] }, { ids: [0, 5] }], maxNew: 12, expected, stopAtMismatch: true },
  ]);
  assert.deepEqual(cut, alone[0].slice(0, 4));
  const eos = alone[1][2];
  const [stopped] = await greedyGenerateMany(engine, [
    { parts: [{ vectors: mems[1] }, { ids: [0, 5] }], maxNew: 12, eosId: eos },
  ]);
  assert.deepEqual(stopped, alone[1].slice(0, alone[1].indexOf(eos) + 1));
  // Regeneration of several texts at once: exact for a text made of the model's own greedy continuation.
  const [own, other] = await regenerateMany(engine, 1, [
    { memory: mems[0], ids: [0, ...alone[0].slice(0, 8)] },
    { memory: mems[1], ids: [0, 7, 7, 7] },
  ]);
  assert.equal(own.regenerated_exact, false); // the prompt was [0, 5], not [0]: the continuation differs
  assert.ok(other.regenerated_prefix_tokens <= 3);
  await engine.release();
});

test("generation stops at the model's positions instead of running on (a .mem claiming 1e9 tokens cannot hang)", async () => {
  const engine = await compiled(bundled('stories260K')); // 512 positions
  const gen = await greedyGenerate(engine, { parts: [{ ids: [1] }], maxNew: 1e9 });
  assert.equal(gen.length, 512); // the token predicted at position 511 is the last: feeding it back would need a 513th position
  await engine.release();
});

test('initial carried state: a growing cache starts empty along its axis, a fixed-size state as zeros of its size', async () => {
  const { ort } = await ready;
  const kv = initialState({ name: 'layer0.key', dims: ['B', 2, 'past', 4], axis: 2 }, 3, ort);
  assert.deepEqual(kv.dims, [3, 2, 0, 4]);
  assert.equal(kv.data.length, 0);
  const ssm = initialState({ name: 'layer0.ssm', dims: ['B', 5, 4], axis: null }, 2, ort);
  assert.deepEqual(ssm.dims, [2, 5, 4]);
  assert.equal(ssm.data.length, 40);
  assert.ok((ssm.data as Float32Array).every((v) => v === 0));
  assert.throws(() => initialState({ name: 'bad', dims: ['B', 'T', 4], axis: null }, 1, ort), /fixed-size.*dynamic/);
});

test('Mamba: the decode graph carries a fixed-size convolution and SSM state per layer; rows decoded together equal rows decoded alone', async () => {
  const engine = await compiled(hfFixture('tiny-mamba'));
  const { carried } = await engine.decoder();
  assert.deepEqual(
    carried.map((c) => [c.name, c.axis, c.dims.slice(1)]),
    [
      ['layer0.conv', null, [3, 128]],
      ['layer0.ssm', null, [128, 16]],
      ['layer1.conv', null, [3, 128]],
      ['layer1.ssm', null, [128, 16]],
    ],
  );
  const d = engine.embedDim;
  const mems = [0, 1].map(() =>
    Float32Array.from({ length: 3 * d }, () => (rng() - 0.5) * 2 * engine.model.embeddingStd()),
  );
  const alone = [];
  for (const m of mems)
    alone.push(await greedyGenerate(engine, { parts: [{ vectors: m }, { ids: [0, 7] }], maxNew: 20 }));
  const together = await greedyGenerateMany(
    engine,
    mems.map((m, i) => ({ parts: [{ vectors: m }, { ids: [0, 7] }], maxNew: i === 0 ? 6 : 20 })),
  );
  assert.deepEqual(together, [alone[0].slice(0, 6), alone[1]]);
  await engine.release();
});

/**
 * Mamba (and Mamba-2 config) specifics the reference test does not reach: config reading (no attention heads, no positions, "auto" Δ
 * rank), lengths across the scan's chunk and group boundaries (padding invariance in a batch, no position limit), and
 * the chunk length being a speed setting only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { CompiledModel } from '../../src/cram/compiled-model.ts';
import { cramAll, PAPER_SETTINGS } from '../../src/cram/cram.ts';
import { greedyGenerate } from '../../src/cram/generate.ts';
import { configureMamba, type Mamba } from '../../src/models/mamba.ts';
import { configureMamba2 } from '../../src/models/mamba2.ts';
import { loadModel } from '../../src/models/load.ts';
import { compiled, hfFixture, ready, relL2 } from '../helpers.ts';

const DIR = hfFixture('tiny-mamba');
const rng = seedrandom('mamba-test');
const text = (n: number) => [0, ...Array.from({ length: n - 1 }, () => 1 + Math.floor(rng() * 8000))];

test('config: no heads or positions needed; expand, "auto" Δ rank and the tied head by default', () => {
  const c = configureMamba(
    { model_type: 'mamba', vocab_size: 100, hidden_size: 40, num_hidden_layers: 2, time_step_rank: 'auto' },
    'config.json',
  );
  assert.equal(c.maxPositions, Infinity);
  assert.equal(c.intermediateSize, 80);
  assert.equal(c.dtRank, 3); // ⌈40 / 16⌉
  assert.equal(c.stateSize, 16);
  assert.equal(c.convKernel, 4);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.useConvBias, true);
  assert.equal(c.useBias, false);
  assert.throws(
    () =>
      configureMamba(
        { model_type: 'mamba', vocab_size: 100, hidden_size: 40, num_hidden_layers: 2, time_step_rank: 'big' },
        'config.json',
      ),
    /time_step_rank/,
  );
});

test('Mamba-2 config: heads × head_dim = expand × hidden, groups divide heads, time_step_limit as Python writes infinity', () => {
  const base = {
    model_type: 'mamba2',
    vocab_size: 100,
    hidden_size: 32,
    num_hidden_layers: 1,
    expand: 2,
    head_dim: 16,
    num_heads: 4,
    n_groups: 2,
    state_size: 8,
  };
  const c = configureMamba2({ ...base, time_step_limit: [0.0, { __float__: 'Infinity' }] }, 'config.json');
  assert.deepEqual(c.timeStepLimit, [0, Infinity]);
  assert.equal(c.maxPositions, Infinity);
  assert.equal(c.tieWordEmbeddings, false);
  assert.deepEqual(
    configureMamba2({ ...base, time_step_limit: [0.001, 0.1] }, 'config.json').timeStepLimit,
    [0.001, 0.1],
  );
  assert.throws(() => configureMamba2({ ...base, num_heads: 3 }, 'config.json'), /num_heads 3 × head_dim 16/);
  assert.throws(() => configureMamba2({ ...base, n_groups: 3, num_heads: 4 }, 'config.json'), /multiple of n_groups/);
});

test('padding in a batch changes nothing across chunk and group boundaries (lengths 5, 17 and 300 together)', async () => {
  const engine = await compiled(DIR);
  const d = engine.embedDim;
  const texts = [text(5), text(17), text(300)]; // 300 + 1 mem: 19 chunks of 16, three groups of 8
  const mem = Float32Array.from({ length: 3 * d }, () => (rng() - 0.5) * engine.model.embeddingStd());
  const batch = await engine.objective(1, mem, texts, true);
  for (let i = 0; i < texts.length; i++) {
    const alone = await engine.objective(1, mem.slice(i * d, (i + 1) * d), [texts[i]], true);
    assert.ok(
      Math.abs(batch.loss[i] - alone.loss[0]) < 1e-5 * alone.loss[0],
      `text ${i}: ${batch.loss[i]} vs ${alone.loss[0]}`,
    );
    assert.equal(batch.correct[i], alone.correct[0]);
    assert.ok(relL2(batch.grad!.slice(i * d, (i + 1) * d), alone.grad!) < 1e-5, `text ${i}: gradient differs`);
  }
  await engine.release();
});

test('the chunk length is a speed setting: chunks of 4 and 16 give the same loss and gradient', async () => {
  const rt = await ready;
  const results = [];
  const ids = text(70);
  for (const chunk of [4, 16]) {
    const loaded = await loadModel(DIR, { tokenizer: false });
    (loaded.model as Mamba).scanChunk = chunk;
    const engine = new CompiledModel(rt, loaded.model, `${loaded.weightsSha256}-chunk${chunk}`);
    const mem = Float32Array.from({ length: 2 * engine.embedDim }, (_, i) => Math.sin(i) * 0.3);
    results.push(await engine.objective(2, mem, [ids], true));
    await engine.release();
  }
  const [a, b] = results;
  assert.ok(Math.abs(a.loss[0] - b.loss[0]) < 1e-6 * b.loss[0], `loss ${a.loss[0]} vs ${b.loss[0]}`);
  assert.ok(relL2(a.grad!, b.grad!) < 1e-5, `gradient relative L2 ${relL2(a.grad!, b.grad!)}`);
});

test("no position limit: a text longer than any transformer fixture's positions crams and generates", async () => {
  const engine = await compiled(DIR);
  const long = text(2100);
  let steps = 0;
  await cramAll(
    engine,
    [{ key: 'long', ids: long, nMem: 1 }],
    { ...PAPER_SETTINGS, maxSteps: 1, patience: 2 },
    {
      onStep: () => {
        steps++;
      },
    },
  );
  assert.equal(steps, 1);
  const gen = await greedyGenerate(engine, { parts: [{ ids: long.slice(0, 2060) }], maxNew: 3 });
  assert.equal(gen.length, 3);
  await engine.release();
});

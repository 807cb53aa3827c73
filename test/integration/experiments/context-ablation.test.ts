/**
 * experiment: context-ablation — the text before a crammed text (both text preparations), the context ids, and a small
 * run from a config: P = 0 is exactly the no-vector baseline, contexts have the asked length, accuracy counts are whole
 * and agree with a direct token-by-token check, the crammed rows and the figure and report are there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkWithoutEngine, workFolder, writeConfig } from './setup.ts';
import { readChunks, secondHalf, secondHalfKeepingNewlines } from '../../../src/data/natural-text.ts';
import { BUNDLED_CHUNKS } from '../../../src/data/sources.ts';
import { runExperiment } from '../../../src/run/harness.ts';
import { contextIds, precedingText, withContext } from '../../../src/experiments/kinds/context-ablation/context.ts';
import type { ContextAblationRecord } from '../../../src/experiments/kinds/context-ablation/records.ts';
import { contextAblationTable } from '../../../src/experiments/kinds/context-ablation/report.ts';
import { openModel, startBackend } from '../../../src/run/model-session.ts';
import { ready } from '../../helpers.ts';

const work = workFolder('context-ablation');

test('the text before the crammed text: first half of the sentences, with the separator the chunk has', () => {
  const chunk = {
    text: 'One two. Three four. Five six. Seven eight.',
    text_lines: 'One two.\nThree four.  Five six.\n\nSeven eight.',
  };
  assert.equal(secondHalf(chunk.text), 'Five six. Seven eight.');
  assert.equal(precedingText(chunk, false), 'One two. Three four. ');
  assert.equal(precedingText(chunk, false) + secondHalf(chunk.text), chunk.text);
  assert.equal(secondHalfKeepingNewlines(chunk.text_lines), 'Five six.\n\nSeven eight.');
  assert.equal(precedingText(chunk, true), 'One two.\nThree four.  ');
  assert.equal(precedingText(chunk, true) + secondHalfKeepingNewlines(chunk.text_lines), chunk.text_lines);
  // The bundled chunks: what comes before the second half, and then the second half, is the chunk.
  for (const real of readChunks(BUNDLED_CHUNKS['gutenberg-heldout']).slice(0, 8)) {
    assert.equal(precedingText(real, false) + secondHalf(real.text), real.text);
    assert.equal(precedingText(real, true) + secondHalfKeepingNewlines(real.text_lines!), real.text_lines!.trim());
  }
});

test("context ids: the last P tokens without BOS, put after the text's first token", () => {
  const tok = {
    encode: (s: string) => [
      0,
      ...s
        .split(' ')
        .filter(Boolean)
        .map((w) => w.length),
    ],
    decode: () => '',
    bosId: 0,
    eosId: 1,
    fingerprint: '',
  };
  assert.deepEqual(contextIds(tok, 'a bb ccc dddd', 2), [3, 4]);
  assert.deepEqual(contextIds(tok, 'a bb', 10), [1, 2]);
  assert.deepEqual(contextIds(tok, 'a bb', 0), []);
  assert.deepEqual(withContext([0, 7, 8, 9], [3, 4]), [0, 3, 4, 7, 8, 9]);
  assert.deepEqual(withContext([0, 7], []), [0, 7]);
});

test('a context-ablation run from a config: P = 0 is the baseline, accuracy on the text part only, vectors next to it', async () => {
  await ready;
  const file = writeConfig(work, 'small', {
    experiment: 'context-ablation',
    backend: 'cpu',
    models: ['gutenberg-llama-xs'],
    sources: ['gutenberg-heldout', { kind: 'gutenberg-heldout', keep_newlines: true }],
    lengths: [6],
    n_mem: [1],
    samples: 2,
    context_tokens: [0, 8, 40],
    max_steps: 15,
    patience: 15,
    batch: { max_texts: 9, max_tokens: 1024 },
    seed: 2,
  });
  const r = await runExperiment<ContextAblationRecord>(file, { quiet: true });
  assert.equal(r.records.length, 2 * 2 * (3 + 1));
  const vec = r.records.filter((x) => x.condition === 'vectors');
  const ctx = r.records.filter((x) => x.condition === 'context');
  assert.equal(vec.length, 4);
  for (const c of ctx) {
    assert.equal(c.n_context, c.context_tokens);
    const v = vec.find((x) => x.source === c.source && x.sample_index === c.sample_index)!;
    assert.ok(Math.abs(c.original_loss - v.original_loss) < 1e-5, 'the same no-vector baseline as the crammed text');
    assert.equal(c.original_accuracy, v.original_accuracy);
    if (c.context_tokens === 0) {
      assert.ok(Math.abs(c.loss - c.original_loss) < 1e-5);
      assert.equal(c.accuracy, c.original_accuracy);
    }
    const hits = c.accuracy * (c.n_tokens - 1);
    assert.ok(Math.abs(hits - Math.round(hits)) < 1e-9 && hits >= 0 && hits <= c.n_tokens - 1);
  }

  // A direct check of one context row: greedy predictions of the text part, position by position.
  const pick = ctx.find((c) => c.context_tokens === 40 && c.source === 'gutenberg-heldout-newlines')!;
  await startBackend('cpu');
  const model = await openModel('gutenberg-llama-xs');
  const chunk = readChunks(BUNDLED_CHUNKS['gutenberg-heldout'])[pick.sample_index];
  const text = model.tokenizer.encode(secondHalfKeepingNewlines(chunk.text_lines!)).slice(0, 6);
  const input = withContext(text, contextIds(model.tokenizer, precedingText(chunk, true), 40));
  let hits = 0;
  for (let i = input.length - 5; i < input.length; i++) {
    const next = await model.generate([{ ids: input.slice(0, i) }], 1);
    if (next[0] === input[i]) hits++;
  }
  model.dispose();
  assert.equal(pick.accuracy, hits / 5);

  const table = contextAblationTable(r.records);
  assert.equal(table.length, 2 * 4);
  assert.ok(existsSync(join(r.runDir, 'figures', 'context_ablation.png')));
  assert.ok(existsSync(join(r.runDir, 'context_ablation.csv')));
  assert.match(
    readFileSync(join(r.runDir, 'report.md'), 'utf8'),
    /## Real preceding text vs crammed vectors \(paper §4\.7\)/,
  );
});

test('configs/context-ablation.yaml validates and plans without loading the engine', () => {
  const out = checkWithoutEngine('configs/context-ablation.yaml');
  assert.equal(out.experiment, 'context-ablation');
  assert.equal(out.models[0].model, 'gutenberg-llama-s');
  assert.equal(out.models[0].items, 1280);
});

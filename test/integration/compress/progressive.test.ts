/**
 * compressMany's progressive one-sequence path (the memory service's default): the whole text as one target grown in
 * stages with warm starts, checkpoints at every passed stage that a resumed run continues from, and texts admitted
 * between steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bundled, fixture, open } from '../../helpers.ts';
import {
  compressMany,
  decompress,
  type CompressCheckpoint,
  type CompressResult,
} from '../../../src/compress/compress.ts';
import { parseCheckpoint, serializeCheckpoint } from '../../../src/serve/queue.ts';

const loaded = await open(bundled('gutenberg-llama-s'));
const tok = loaded.tokenizer!;
const ids = tok.encode(readFileSync(fixture('heldout-passage.txt'), 'utf8'));
const long = tok.decode(ids.slice(1, 27));
const short = tok.decode(ids.slice(41, 47));
const ok = (r: CompressResult) => {
  assert.equal(r.ok, true, r.ok ? '' : r.error.message);
  return (r as Extract<CompressResult, { ok: true }>).file;
};
const opts = { model: loaded, progressive: true, segmentTokens: 4096, stageTokens: 8, seed: 3 };

test('progressive: one sequence grown in stages, exact; stage checkpoints resume to the same vectors', async () => {
  const cps: CompressCheckpoint[] = [];
  const [r] = await compressMany([long], { ...opts, onCheckpoint: (_, c) => cps.push(c) });
  const file = ok(r);
  assert.equal(file.segments.length, 1, 'one sequence');
  assert.equal(file.segments[0].nTokens, 26);
  assert.equal(file.settings.layout, 'one sequence, progressive');
  assert.equal(await decompress(file, { model: loaded }), long);
  // A checkpoint per passed stage (9, 17, 25 tokens with the first), each with its optimizer state.
  const stages = cps.filter((c) => c.warm?.adam);
  assert.ok(stages.length >= 2, `stage checkpoints: ${stages.map((c) => c.warm!.passed)}`);
  assert.deepEqual(
    stages.slice(0, 2).map((c) => [c.warm!.passed, c.warm!.start]),
    [
      [9, 17],
      [17, 25],
    ],
  );
  // Resumed from the second stage (through the bytes the server keeps): it goes on from there, to the same vectors.
  const mid = parseCheckpoint(serializeCheckpoint(stages[1]), loaded.model.embedDim)!;
  assert.deepEqual(mid.warm!.vectors, stages[1].warm!.vectors);
  let resumedSteps = 0;
  const [again] = await compressMany([{ text: long, resume: mid }], {
    ...opts,
    onProgress: (_, p) => {
      resumedSteps = Math.max(resumedSteps, p.stepsDone);
    },
  });
  const file2 = ok(again);
  assert.equal(await decompress(file2, { model: loaded }), long);
  assert.equal(file2.stats.batched_steps, file.stats.batched_steps, 'the same total steps');
  assert.ok(resumedSteps < (file.stats.batched_steps as number), 'the resumed run did only the remaining stages');
  assert.deepEqual(file2.segments[0].vectors, file.segments[0].vectors, 'the same vectors as the uninterrupted run');
  // A checkpoint of another text is not used.
  const [other] = await compressMany([{ text: short, resume: mid }], opts);
  assert.equal(await decompress(ok(other), { model: loaded }), short);
});

test('progressive: a text admitted between steps joins the running batch at once and is done first', async () => {
  const order: number[] = [];
  let asked = 0;
  let joinedAt = -1;
  let steps = 0;
  const results = await compressMany([long], {
    ...opts,
    onProgress: (i, p) => {
      if (i === 0) steps = Math.max(steps, p.stepsDone);
    },
    admit: () => {
      if (++asked === 5) {
        joinedAt = steps;
        return [short];
      }
      return [];
    },
    onText: (i) => {
      order.push(i);
    },
  });
  assert.ok(joinedAt >= 1 && joinedAt < 10, `admitted after ${joinedAt} steps, between steps of the first round`);
  assert.deepEqual(order, [1, 0], 'the short text is done before the long one');
  assert.equal(await decompress(ok(results[1]), { model: loaded }), short);
  assert.equal(await decompress(ok(results[0]), { model: loaded }), long);
});

test('progressive: a failed stage gets more steps, then more vectors; at the limit, flags are named', async () => {
  // K from 1, a few passes per stage, at most 3 vectors: every escalation is taken, then the text fails.
  const tight = { ...opts, tokensPerVector: 100, maxSteps: 5, maxMem: 3 };
  const cps: CompressCheckpoint[] = [];
  const [r] = await compressMany([long], { ...tight, onCheckpoint: (_, c) => cps.push(c) });
  assert.equal(r.ok, false);
  const message = (r as Extract<CompressResult, { ok: false }>).error.message;
  assert.match(message, /^the text \(26 tokens, .*\) was not reproduced exactly as one sequence with K=3 vector/);
  assert.match(message, /raise --max-mem \(now 3\) or --max-steps-ceiling \(now 20\)/);
  assert.match(message, /--segment-tokens 12/);
  // The escalations, in order: twice the stage steps at K = 1, then K = 2 (fresh vectors), its steps, then K = 3.
  const ladder = cps.filter((c) => !c.warm?.adam).map((c) => `K${c.kOf[0]}×${c.stepsOf![0]}`);
  assert.deepEqual(ladder, ['K1×10', 'K2×5', 'K2×10', 'K3×5', 'K3×10']);
  // A job resumed after an escalation goes on at the K it had reached.
  const atK2 = cps.find((c) => c.kOf[0] === 2 && !c.warm)!;
  const ks: number[] = [];
  await compressMany([{ text: long, resume: atK2 }], { ...tight, onProgress: (_, p) => ks.push(...p.kValues) });
  assert.equal(ks[0], 2);
});

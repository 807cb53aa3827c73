/**
 * A compression interrupted after a round resumes from its checkpoint: the segments it had finished are not crammed
 * again, the others go on at the K they had reached, and the result is the file the uninterrupted run makes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bundled, open } from '../../helpers.ts';
import { compressMany, type CompressCheckpoint } from '../../../src/compress/compress.ts';
import { parseCheckpoint, serializeCheckpoint } from '../../../src/serve/queue.ts';
import { snippets } from './client.ts';

const model = await open(bundled('gutenberg-llama-s'));

test(
  'resume from a checkpoint: finished segments kept, the rest goes on, the same vectors as without the crash',
  { timeout: 600_000 },
  async () => {
    const text = snippets(model.tokenizer!, 20, 24)[0];
    // Short segments starting at one vector, few steps: some segments need a second round.
    const settings = { model, segmentTokens: 6, tokensPerVector: 6, maxSteps: 120, patience: 60, seed: 0 };
    const checkpoints: CompressCheckpoint[] = [];
    const [full] = await compressMany([text], { ...settings, onCheckpoint: (_, c) => checkpoints.push(c) });
    assert.ok(full.ok, full.ok ? '' : full.error.message);
    const cp = checkpoints.find((c) => c.done.some((v) => v !== null));
    assert.ok(
      cp,
      `no round left finished segments and unfinished ones: ${checkpoints.length} checkpoint(s); pick other settings`,
    );
    // Through its bytes, as the service stores it.
    const saved = parseCheckpoint(serializeCheckpoint(cp), model.model.embedDim)!;
    const rounds: number[] = [];
    const crammed = new Set<number>();
    const [again] = await compressMany([{ text, resume: saved }], {
      ...settings,
      onProgress: (_, p) => {
        rounds.push(p.round);
        crammed.add(p.segments - p.exact);
      },
    });
    assert.ok(again.ok && full.ok);
    assert.equal(Math.min(...rounds), cp.rounds + 1, 'the resumed run starts at the round after the checkpoint');
    const a = full.file.segments;
    const b = again.file.segments;
    assert.deepEqual(
      b.map((s) => s.nMem),
      a.map((s) => s.nMem),
    );
    for (const [i, s] of b.entries()) assert.deepEqual([...s.vectors], [...a[i].vectors], `segment ${i}`);
    assert.equal(again.file.stats.rounds, full.file.stats.rounds);
    // A checkpoint of another plan (other segment length) is ignored: a fresh start.
    const fresh: number[] = [];
    await compressMany([{ text, resume: saved }], {
      ...settings,
      segmentTokens: 7,
      maxSteps: 1,
      maxMem: 1,
      onProgress: (_, p) => fresh.push(p.round),
    });
    assert.equal(Math.min(...fresh), 1);
  },
);

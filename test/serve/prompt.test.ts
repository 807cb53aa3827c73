/** Placeholders, layouts and the generate queue's own wait (no model needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLayout, Limiter, parsePrompt, PromptError } from '../../src/serve/prompt.ts';
import type { MemoryFile } from '../../src/compress/memory-file.ts';

const badId = (e: unknown) => e instanceof PromptError && e.status === 400 && e.code === 'bad_id';

test('valid placeholders split the prompt; malformed ones are 400 bad_id, never silently plain text', () => {
  assert.deepEqual(parsePrompt('[mem-id-12]The key is'), [{ memory: 12, id: 'mem-id-12' }, { text: 'The key is' }]);
  assert.deepEqual(parsePrompt('plain [brackets] stay text'), [{ text: 'plain [brackets] stay text' }]);
  for (const p of [
    '[mem-id-9999999999999999]x',
    '[MEM-ID-1]x',
    '[Mem-Id-1]',
    'a [mem-id-01] b',
    '[mem-id-0]',
    '[ mem-id-1]',
    '[mem-id-1 ]',
    '[mem-id-]',
    '[mem-id-x]',
  ]) {
    assert.throws(() => parsePrompt(p), badId, p);
  }
});

const file = (segments: number) =>
  ({ segments: Array.from({ length: segments }, () => ({})) }) as unknown as MemoryFile;

test('layouts whose vectors sit where they were not trained are refused with 422 naming the layout that works', () => {
  const layout = (e: unknown) =>
    e instanceof PromptError &&
    e.status === 422 &&
    e.code === 'unsupported_layout' &&
    /one \[mem-id-N\] at the very start of the prompt/.test(e.message);
  const one = new Map([
    [1, file(1)],
    [2, file(1)],
  ]);
  checkLayout(parsePrompt('[mem-id-1]The key is'), one);
  checkLayout(parsePrompt('[mem-id-1]'), one);
  checkLayout(parsePrompt('no memory at all'), one);
  assert.throws(() => checkLayout(parsePrompt('Where is the key? [mem-id-1]The key is'), one), layout);
  assert.throws(() => checkLayout(parsePrompt('[mem-id-1][mem-id-2]'), one), layout);
  assert.throws(
    () => checkLayout(parsePrompt('[mem-id-1]'), new Map([[1, file(2)]])),
    (e: unknown) =>
      e instanceof PromptError &&
      e.code === 'unsupported_layout' &&
      /compressed in 2 separate segments/.test(e.message),
  );
});

test("the generate queue's Retry-After comes from its own measured wait", async () => {
  const lim = new Limiter(1, 1);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await lim.run(() => sleep(1200));
  const running = lim.run(() => sleep(1200));
  const waiting = lim.run(() => sleep(10));
  assert.equal(await lim.run(async () => 0), null, 'no room: the caller answers 429');
  // One running and one waiting, 1.2 s each: about 2.4 s, not a constant.
  const wait = lim.retryAfterSeconds();
  assert.ok(wait >= 2 && wait <= 4, String(wait));
  await Promise.all([running, waiting]);
});

test('a memory the server stored in segments because it could not be one sequence: the refusal gives that reason', () => {
  const why = 'the text (50 tokens, "…") was not reproduced exactly as one sequence with K=26 vector(s): …';
  assert.throws(
    () => checkLayout(parsePrompt('[mem-id-3]The'), new Map([[3, file(5)]]), 'the prompt', new Map([[3, why]])),
    (e: unknown) =>
      e instanceof PromptError &&
      e.status === 422 &&
      e.code === 'unsupported_layout' &&
      e.message.includes('mem-id-3 is stored in 5 separate segments') &&
      e.message.includes(`could not be compressed as one sequence on this model: ${why}`) &&
      e.message.includes('GET /v1/memories/mem-id-3/text'),
  );
  // A reason for a memory of one segment changes nothing: it opens the prompt.
  checkLayout(parsePrompt('[mem-id-3]The'), new Map([[3, file(1)]]), 'the prompt', new Map([[3, why]]));
});

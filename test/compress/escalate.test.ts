import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escalate, type EscalationLimits } from '../../src/compress/escalate.ts';

/**
 * The server's defaults (--max-steps 500, ceiling 4 × 500, K up to 4 per token, growth 1.5, stages of 16 tokens) for
 * a text of n tokens.
 */
const limits = (n: number): EscalationLimits => ({
  baseSteps: 500,
  stepsCeiling: 2000,
  cap: 4 * n,
  growth: 1.5,
  stageTokens: 16,
});

/**
 * Plays the schedule from K0: `passed(K)` is how many tokens a K's rounds reproduce (both its rounds alike). Returns the
 * rounds as "K×steps" and how it ended.
 */
function play(n: number, K0: number, passed: (K: number) => number, l = limits(n)) {
  const rounds: string[] = [];
  let K = K0;
  let stageSteps = l.baseSteps;
  for (let i = 0; i < 50; i++) {
    rounds.push(`${K}×${stageSteps}`);
    if (passed(K) >= n) return { rounds, end: 'done' };
    const e = escalate({ K, stageSteps, passedTokens: passed(K), diverged: false }, l);
    if (e.next === 'steps') stageSteps = e.stageSteps;
    else if (e.next === 'vectors') [K, stageSteps] = [e.K, l.baseSteps];
    else return { rounds, end: e.why, ...(e.K === undefined ? {} : { notTried: e.K }) };
  }
  throw new Error('no end');
}

test('escalate: steps once per K, then K × 1.5 from fresh vectors, up to the cap', () => {
  // gutenberg-llama-xs, "It was a bright cold day in April, and the clocks were striking." (16 tokens), measured with
  // K up to tokens + 1: no stage passed at K = 6, 9 and 14; exact at K = 17 (one stage of slack lets it try them).
  const tight = { ...limits(16), cap: 17 };
  assert.deepEqual(
    play(16, 6, (K) => (K >= 17 ? 16 : 0), tight),
    {
      rounds: ['6×500', '6×1000', '9×500', '9×1000', '14×500', '14×1000', '17×500'],
      end: 'done',
    },
  );
  // Never exact: stops at the cap, after its step escalation.
  assert.deepEqual(
    play(16, 6, () => 0, tight),
    {
      rounds: ['6×500', '6×1000', '9×500', '9×1000', '14×500', '14×1000', '17×500', '17×1000'],
      end: 'limit',
    },
  );
  // With the default cap (4 per token), 11-token texts on xs, measured exact at K = 9-32 with nothing passed before:
  // every K up to 32 is tried; beyond that, the rate stops it.
  const firstRounds = (r: { rounds: string[] }) => r.rounds.filter((x) => x.endsWith('×500'));
  assert.deepEqual(firstRounds(play(11, 4, (K) => (K >= 32 ? 11 : 0))), [
    '4×500',
    '6×500',
    '9×500',
    '14×500',
    '21×500',
    '32×500',
  ]);
  assert.deepEqual(play(11, 4, () => 0).end, 'rate');
});

test('escalate: below half a token per vector, more vectors are not tried', () => {
  // gutenberg-llama-xs, a 50-token held-out paragraph, measured: 0 tokens at K = 17 and K = 26 (and at 39 and 51).
  assert.deepEqual(
    play(50, 17, () => 0),
    {
      rounds: ['17×500', '17×1000', '26×500', '26×1000'],
      end: 'rate',
      notTried: 39,
    },
  );
  // A 300-token paragraph on xs (passed 16–48 tokens at K = 100–228): stops after its first K.
  assert.deepEqual(
    play(300, 100, () => 48),
    { rounds: ['100×500', '100×1000'], end: 'rate', notTried: 150 },
  );
});

test('escalate: the capable models are never stopped by the rate (measured passed lengths)', () => {
  // gutenberg-llama-s: 50 tokens, K = 17 passed 32, K = 26 exact; 150 tokens, K = 50 passed 64, K = 75 exact;
  // 300 tokens, K = 101 passed 160.
  assert.equal(play(50, 17, (K) => (K >= 26 ? 50 : 32)).end, 'done');
  assert.equal(play(150, 50, (K) => (K >= 75 ? 150 : 64)).end, 'done');
  assert.equal(play(300, 101, (K) => (K >= 152 ? 300 : 160)).end, 'done');
  // stories260K, 319 tokens: 288 passed at K = 107.
  assert.deepEqual(escalate({ K: 107, stageSteps: 1000, passedTokens: 288, diverged: false }, limits(319)), {
    next: 'vectors',
    K: 161,
  });
});

test('escalate: a diverged round stops at once; a ceiling equal to the base steps skips the step escalation', () => {
  assert.deepEqual(escalate({ K: 5, stageSteps: 500, passedTokens: 0, diverged: true }, limits(16)), {
    next: 'stop',
    why: 'diverged',
  });
  const flat = { ...limits(16), stepsCeiling: 500 };
  assert.deepEqual(escalate({ K: 5, stageSteps: 500, passedTokens: 0, diverged: false }, flat), {
    next: 'vectors',
    K: 8,
  });
  // K + 1 at least, when × growth does not reach the next integer.
  assert.deepEqual(escalate({ K: 1, stageSteps: 1000, passedTokens: 0, diverged: false }, limits(16)), {
    next: 'vectors',
    K: 2,
  });
});

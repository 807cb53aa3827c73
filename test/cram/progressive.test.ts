/**
 * Progressive cramming (src/cram/progressive.ts): the horizon is the longest prefix greedy regeneration reproduces
 * with the kept vectors; texts at different stage lengths in one batch (and in chunks) follow the trajectories they
 * have alone; growth schedules and the one optimizer restart per stage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  progressiveAll,
  PROGRESSIVE_DEFAULTS,
  type ProgressiveJob,
  type ProgressiveOutcome,
  type ProgressiveSettings,
} from '../../src/cram/progressive.ts';
import { regenerate } from '../../src/cram/regenerate.ts';
import { bundled, fixture, open } from '../helpers.ts';

const model = open(bundled('gutenberg-llama-xs'), { tokenizer: true });
const passage = readFileSync(fixture('heldout-passage.txt'), 'utf8');
/** Three different real texts (real text makes the stages go further than random ids would). */
async function texts(): Promise<number[][]> {
  const { tokenizer } = await model;
  const ids = tokenizer!.encode(passage);
  return [ids.slice(0, 20), [ids[0], ...ids.slice(40, 59)], [ids[0], ...ids.slice(90, 109)]];
}
const SETTINGS: ProgressiveSettings = { ...PROGRESSIVE_DEFAULTS, stageSteps: 40, maxSteps: 240 };

async function runAll(jobs: ProgressiveJob[], settings: ProgressiveSettings): Promise<Map<string, ProgressiveOutcome>> {
  const out = new Map<string, ProgressiveOutcome>();
  await progressiveAll((await model).compiled, jobs, settings, {
    onFinish: (o) => {
      out.set(o.key, o);
    },
  });
  return out;
}

test('a horizon is the longest prefix greedy regeneration reproduces with the kept vectors; passed stages are exact', async () => {
  const { compiled } = await model;
  const ts = await texts();
  const jobs = ts.map((ids, i) => ({ key: `h${i}`, ids, nMem: 2 }));
  const out = await runAll(jobs, SETTINGS);
  for (const j of jobs) {
    const o = out.get(j.key)!;
    const whole = await regenerate(compiled, o.memory, 2, j.ids);
    assert.equal(o.horizon, 1 + whole.regenerated_prefix_tokens, `${j.key}: horizon`);
    assert.ok(o.horizon >= o.passedLength, `${j.key}: horizon ${o.horizon} < passed ${o.passedLength}`);
    assert.ok(o.passedLength >= 3, `${j.key}: the stages should get somewhere on real text (passed ${o.passedLength})`);
    assert.equal((await regenerate(compiled, o.memory, 2, j.ids.slice(0, o.passedLength))).regenerated_exact, true);
    // Linear growth by one token: passed stages are 2, 3, …, passedLength, then one failed stage.
    const passed = o.stages.filter((s) => s.outcome === 'passed').map((s) => s.length);
    assert.deepEqual(
      passed,
      Array.from({ length: o.passedLength - 1 }, (_, i) => i + 2),
    );
    assert.equal(
      o.steps,
      o.stages.reduce((a, s) => a + s.steps, 0),
    );
    if (o.stopReason === 'stage_failed') assert.equal(o.failedLength, o.passedLength + 1);
  }
});

test('texts at different stage lengths in one batch, and in token-bounded chunks, follow the trajectories they have alone', async () => {
  const ts = await texts();
  const jobs = ts.map((ids, i) => ({ key: `b${i}`, ids, nMem: 1, recordTrajectory: true }));
  const alone = new Map<string, ProgressiveOutcome>();
  for (const j of jobs) for (const [k, v] of await runAll([j], SETTINGS)) alone.set(k, v);
  const batched = await runAll(jobs, { ...SETTINGS, maxBatch: 3 });
  const chunked = await runAll(jobs, { ...SETTINGS, maxBatch: 3, maxBatchTokens: 12 });
  let differentStages = false;
  const a0 = batched.get('b0')!.trajectory!.length;
  for (const j of jobs) {
    const a = alone.get(j.key)!;
    for (const [what, b] of [
      ['batched', batched.get(j.key)!],
      ['chunked', chunked.get(j.key)!],
    ] as const) {
      assert.equal(b.steps, a.steps, `${j.key} ${what}: steps`);
      assert.deepEqual(b.trajectory!.length, a.trajectory!.length, `${j.key} ${what}: stage lengths`);
      const la = a.trajectory!.loss;
      const lb = b.trajectory!.loss;
      for (let i = 0; i < la.length; i++)
        assert.ok(
          Math.abs(la[i] - lb[i]) <= 1e-4 * Math.abs(la[i]),
          `${j.key} ${what}: loss at step ${i + 1}: ${lb[i]} vs ${la[i]}`,
        );
      assert.equal(b.horizon, a.horizon, `${j.key} ${what}: horizon`);
    }
    const l = batched.get(j.key)!.trajectory!.length;
    for (let i = 0; i < Math.min(l.length, a0.length); i++) if (l[i] !== a0[i]) differentStages = true;
  }
  assert.ok(differentStages, 'the texts should sit at different stage lengths at some step');
});

test('doubling then bisection, warm-started from the last passed stage; one optimizer restart per stage', async () => {
  const ts = await texts();
  const o = (await runAll([{ key: 'd', ids: ts[0], nMem: 2 }], { ...SETTINGS, schedule: 'doubling' })).get('d')!;
  const lengths = o.stages.map((s) => s.length);
  const firstFail = o.stages.findIndex((s) => s.outcome === 'failed');
  assert.ok(firstFail > 0, `stages ${JSON.stringify(lengths)}`);
  for (let i = 1; i < firstFail; i++)
    assert.equal(lengths[i], Math.min(2 * lengths[i - 1], ts[0].length), 'doubling while stages pass');
  let lo = lengths[firstFail - 1];
  let hi = lengths[firstFail];
  for (const s of o.stages.slice(firstFail + 1)) {
    assert.ok(s.length > lo && s.length < hi, `bisection probe ${s.length} outside (${lo}, ${hi})`);
    if (s.outcome === 'passed') lo = s.length;
    else if (s.outcome === 'failed') hi = s.length;
  }
  if (o.stopReason === 'stage_failed') assert.equal(hi - lo, 1, 'bisection stops when the bracket is one token wide');
  assert.equal(o.passedLength, lo);
  // A failed stage used its budget twice (restart), and only once without lr_reset.
  for (const s of o.stages.filter((x) => x.outcome === 'failed')) assert.equal(s.steps, 2 * SETTINGS.stageSteps);
  const noReset = (await runAll([{ key: 'n', ids: ts[0], nMem: 1 }], { ...SETTINGS, lrReset: false })).get('n')!;
  assert.equal(noReset.lrResets, 0);
  for (const s of noReset.stages.filter((x) => x.outcome === 'failed')) assert.equal(s.steps, SETTINGS.stageSteps);
});

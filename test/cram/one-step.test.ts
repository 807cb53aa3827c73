/**
 * One-step generation: the graph's gradients w.r.t. e and m against finite differences, right padding, the decoding
 * graph against the objective's hits, and the engine (kept vectors re-evaluate to the recorded accuracy; a shared m is
 * one AdamW problem driven by the sum of its texts' gradients).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { adamwState, adamwUpdate, PAPER_ADAMW } from '../../src/cram/adamw.ts';
import { initMemory } from '../../src/cram/init.ts';
import { evaluateOneStep, ONE_STEP_DEFAULTS, oneStepAll, type OneStepOutcome } from '../../src/cram/one-step.ts';
import { bundled, compiled, relL2 } from '../helpers.ts';

const engine = compiled(bundled('gutenberg-llama-xs'));
const rng = seedrandom('one-step-test');
const text = (n: number) => Array.from({ length: n }, () => 2 + Math.floor(rng() * 8000));

test('gradients of the one-step loss w.r.t. e and m match finite differences', async () => {
  const e0 = await engine;
  const d = e0.embedDim;
  const std = e0.model.embeddingStd();
  const targets = text(9);
  const e = Float32Array.from({ length: d }, () => (rng() - 0.5) * 4 * std);
  const m = Float32Array.from({ length: d }, () => (rng() - 0.5) * 4 * std);
  const r = await e0.oneStep(e, m, [targets], true);
  const lossAt = async (ee: Float32Array, mm: Float32Array) => (await e0.oneStep(ee, mm, [targets], false)).loss[0];
  for (const [which, grad] of [
    ['e', r.gradE!],
    ['m', r.gradM!],
  ] as const) {
    for (let trial = 0; trial < 2; trial++) {
      const dir = Float32Array.from({ length: d }, () => rng() - 0.5);
      const norm = Math.hypot(...dir);
      dir.forEach((v, i) => (dir[i] = v / norm));
      const analytic = Array.from(grad).reduce((s, g, i) => s + g * dir[i], 0);
      const at = (t: number) =>
        which === 'e'
          ? lossAt(
              e.map((v, i) => v + t * dir[i]),
              m,
            )
          : lossAt(
              e,
              m.map((v, i) => v + t * dir[i]),
            );
      const errors: number[] = [];
      for (const rel of [1e-2, 3e-2, 1e-1]) {
        const h = rel * std * Math.sqrt(d);
        errors.push(
          Math.abs(
            (-(await at(2 * h)) + 8 * (await at(h)) - 8 * (await at(-h)) + (await at(-2 * h))) / (12 * h) - analytic,
          ),
        );
      }
      const scale = Math.max(Math.abs(analytic), Math.hypot(...grad) * 0.05);
      assert.ok(Math.min(...errors) < 0.03 * scale, `${which}, trial ${trial}: analytic ${analytic}, errors ${errors}`);
    }
  }
});

test('right padding: a short row batched with a long one has its own loss and gradients; decoding agrees with the hits', async () => {
  const e0 = await engine;
  const d = e0.embedDim;
  const short = text(5);
  const long = text(14);
  const e = Float32Array.from({ length: 2 * d }, () => (rng() - 0.5) * 0.2);
  const m = Float32Array.from({ length: 2 * d }, () => (rng() - 0.5) * 0.2);
  const both = await e0.oneStep(e, m, [short, long], true);
  const alone = await e0.oneStep(e.slice(0, d), m.slice(0, d), [short], true);
  assert.ok(Math.abs(both.loss[0] - alone.loss[0]) < 1e-5 * alone.loss[0]);
  assert.equal(both.correct[0], alone.correct[0]);
  assert.ok(relL2(both.gradE!.slice(0, d), alone.gradE!) < 1e-4);
  assert.ok(relL2(both.gradM!.slice(0, d), alone.gradM!) < 1e-4);
  for (let i = short.length; i < long.length; i++) assert.equal(both.tokenCe[i], 0, 'no loss on padding');
  // The decoding graph's argmax tokens agree with the objective's hits.
  const decoded = await e0.oneStepDecode(e, m, long.length);
  assert.equal(decoded[1].filter((t, i) => t === long[i]).length, both.correct[1]);
  assert.equal(decoded[0].slice(0, short.length).filter((t, i) => t === short[i]).length, both.correct[0]);
});

test('kept vectors re-evaluate to the recorded accuracy, per text and with a shared m', async () => {
  const e0 = await engine;
  const targets = [text(3), text(6), text(8)];
  for (const shared of [false, true]) {
    const out: OneStepOutcome[] = [];
    const jobs = targets.map((t, i) => ({ key: `${shared}-${i}`, targets: t, group: shared ? 'g' : undefined }));
    await oneStepAll(
      e0,
      jobs,
      { ...ONE_STEP_DEFAULTS, maxSteps: 60, patience: 30 },
      {
        onFinish: (o) => {
          out.push(o);
        },
      },
    );
    assert.equal(out.length, 3);
    const again = await evaluateOneStep(
      e0,
      out.map((o) => ({ e: o.e, m: o.m, targets: targets[Number(o.key.split('-')[1])] })),
    );
    out.forEach((o, i) => {
      assert.equal(again[i].accuracy, o.bestAccuracy, `${o.key}: accuracy`);
      assert.ok(Math.abs(again[i].loss - o.lossAtBestAccuracy) < 1e-5 * o.lossAtBestAccuracy, `${o.key}: loss`);
    });
    assert.ok(
      out.some((o) => o.bestAccuracy > 0),
      'some text learnt something',
    );
    if (shared) {
      assert.ok(
        out.every((o) => o.groupSize === 3 && o.steps === out[0].steps && relL2(o.m, out[0].m) === 0),
        'one m, one problem',
      );
    }
  }
});

test("a shared m takes one AdamW step with the sum of its texts' gradients", async () => {
  const e0 = await engine;
  const d = e0.embedDim;
  const std = e0.model.embeddingStd();
  const targets = [text(4), text(7)];
  const jobs = targets.map((t, i) => ({ key: `s${i}`, targets: t, seed: `seed${i}`, group: 'grp' }));
  const out = new Map<string, OneStepOutcome>();
  await oneStepAll(
    e0,
    jobs,
    { ...ONE_STEP_DEFAULTS, maxSteps: 2, patience: 10, recordTrajectory: true },
    {
      onFinish: (o) => {
        out.set(o.key, o);
      },
    },
  );
  // The same two steps by hand.
  const es = jobs.map((j) => initMemory(1, d, std, `${j.seed}|e`));
  const m = initMemory(1, d, std, 'grp|m');
  const pack = (xs: Float32Array[]) => {
    const a = new Float32Array(xs.length * d);
    xs.forEach((x, i) => a.set(x, i * d));
    return a;
  };
  const r1 = await e0.oneStep(pack(es), pack([m, m]), targets, true);
  const sum = new Float32Array(d);
  for (let i = 0; i < d; i++) sum[i] = r1.gradM![i] + r1.gradM![d + i];
  es.forEach((e, b) => adamwUpdate(PAPER_ADAMW, e, r1.gradE!, adamwState(d), b * d));
  adamwUpdate(PAPER_ADAMW, m, sum, adamwState(d));
  const r2 = await e0.oneStep(pack(es), pack([m, m]), targets, false);
  jobs.forEach((j, b) => {
    const traj = out.get(j.key)!.trajectory!.loss;
    assert.ok(Math.abs(traj[0] - r1.loss[b]) < 1e-5 * r1.loss[b]);
    assert.ok(Math.abs(traj[1] - r2.loss[b]) < 1e-4 * r2.loss[b], `${j.key}: step 2 loss ${traj[1]} vs ${r2.loss[b]}`);
  });
});

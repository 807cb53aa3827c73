/**
 * Runs the side-effects items on one loaded model: the held-out texts without a prefix (the baseline), the reference
 * prefixes, then each donor text crammed and its vectors (and random ones of the same norm) put before them.
 */
import { cramSettings } from '../../../config/settings.ts';
import { mean, norm } from '../../../metrics/stats.ts';
import { sig } from '../../../report/format.ts';
import { evaluateRows } from '../../batched-eval.ts';
import type { RunContext } from '../../kind.ts';
import { saveStudyVectors } from '../../study-texts.ts';
import { randomSameNorm } from './conditions.ts';
import type { Config } from './options.ts';
import type { DonorItem, Item, ReferenceItem } from './plan.ts';
import type { Common, SideEffectsRecord } from './records.ts';

export async function run(ctx: RunContext<SideEffectsRecord>, todo: Item[]): Promise<void> {
  const config = ctx.config as Config;
  const { session } = ctx;
  const limits = config.batch;
  const d = session.embedDim;
  const refs = todo.filter((i): i is ReferenceItem => i.type === 'reference');
  const donors = todo.filter((i): i is DonorItem => i.type === 'donor');
  const evalSet = (refs[0] ?? donors[0])?.evalSet;
  if (!evalSet) return;
  const baseline = await evaluateRows(
    session,
    0,
    evalSet.ids.map((ids) => ({ memory: null, ids })),
    limits,
  );
  const common = (nMem: number): Common => ({
    run: config.name,
    model: session.name,
    n_mem: nMem,
    eval_source: evalSet.source,
    eval_length: evalSet.length,
    eval_indices: evalSet.indices,
    baseline_loss: baseline.map((b) => sig(b.loss)),
    baseline_accuracy: baseline.map((b) => b.accuracy),
  });
  const withPrefix = (prefix: Float32Array, nMem: number) =>
    evaluateRows(
      session,
      nMem,
      evalSet.ids.map((ids) => ({ memory: prefix, ids })),
      limits,
    );
  for (const r of refs) {
    if (ctx.shouldStop()) return;
    if (r.condition === 'none') {
      ctx.record({
        record: 'reference',
        condition: 'none',
        ...common(0),
        vector_norm: 0,
        loss: baseline.map((b) => sig(b.loss)),
        accuracy: baseline.map((b) => b.accuracy),
        loss_mean: mean(baseline.map((b) => b.loss)),
        accuracy_mean: mean(baseline.map((b) => b.accuracy)),
      });
      continue;
    }
    const m = session.embeddingMean();
    const prefix = new Float32Array(r.nMem * d);
    for (let k = 0; k < r.nMem; k++) prefix.set(m, k * d);
    const res = await withPrefix(prefix, r.nMem);
    ctx.record({
      record: 'reference',
      condition: 'mean_embedding',
      ...common(r.nMem),
      vector_norm: norm(prefix),
      loss: res.map((x) => sig(x.loss)),
      accuracy: res.map((x) => x.accuracy),
      loss_mean: mean(res.map((x) => x.loss)),
      accuracy_mean: mean(res.map((x) => x.accuracy)),
    });
  }
  if (donors.length === 0 || ctx.shouldStop()) return;
  const byKey = new Map(donors.map((x) => [x.key, x]));
  await session.cram(donors, cramSettings(config), {
    shouldStop: ctx.shouldStop,
    onStep: (p) => ctx.progress({ accuracy: p.meanAccuracy, active: p.active, detail: `${session.name} donors` }),
    onFinish: async (o) => {
      const it = byKey.get(o.key)!;
      const t = it.text;
      const start = performance.now();
      const regen = config.regenerate ? await session.regenerate(o.memory, o.nMem, t.ids) : null;
      const crammed = await withPrefix(o.memory, o.nMem);
      const random = await withPrefix(
        randomSameNorm(o.memory, o.nMem, `${it.seed}|L${t.length}|random-same-norm`),
        o.nMem,
      );
      const vf = saveStudyVectors(ctx, session, it.model, t, o.memory, o.nMem);
      ctx.record({
        record: 'donor',
        ...common(o.nMem),
        source: t.source,
        length: t.length,
        sample_index: t.index,
        n_tokens: o.nTokens,
        best_accuracy: o.bestAccuracy,
        best_loss: o.bestLoss,
        steps: o.steps,
        stop_reason: o.stopReason,
        regenerated_exact: regen?.regenerated_exact ?? null,
        vector_norm: norm(o.memory),
        vector_file: vf,
        crammed_loss: crammed.map((x) => sig(x.loss)),
        crammed_accuracy: crammed.map((x) => x.accuracy),
        random_loss: random.map((x) => sig(x.loss)),
        random_accuracy: random.map((x) => x.accuracy),
        crammed_loss_mean: mean(crammed.map((x) => x.loss)),
        crammed_accuracy_mean: mean(crammed.map((x) => x.accuracy)),
        random_loss_mean: mean(random.map((x) => x.loss)),
        random_accuracy_mean: mean(random.map((x) => x.accuracy)),
        seconds: o.seconds + (performance.now() - start) / 1000,
      });
    },
  });
}

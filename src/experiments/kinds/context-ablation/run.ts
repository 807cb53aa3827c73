/**
 * Runs the context-ablation items on one loaded model: the context rows (three rows per item in one engine call: the
 * input with context, the context alone, the text alone), then the texts crammed into K vectors.
 */
import { cramSettings } from '../../../config/settings.ts';
import { chunkRows } from '../../../cram/batch-loop.ts';
import { mean } from '../../../metrics/stats.ts';
import type { RunContext } from '../../kind.ts';
import { saveStudyVectors } from '../../study-texts.ts';
import { withContext } from './context.ts';
import type { Config } from './options.ts';
import type { ContextItem, Item, VectorsItem } from './plan.ts';
import type { ContextAblationRecord } from './records.ts';

export async function run(ctx: RunContext<ContextAblationRecord>, todo: Item[]): Promise<void> {
  const config = ctx.config as Config;
  const { session } = ctx;
  const contexts = todo.filter((i): i is ContextItem => i.type === 'context');
  const vectors = todo.filter((i): i is VectorsItem => i.type === 'vectors');
  // Three rows per item (input with context, the context alone, the text alone), always in one engine call.
  const maxItems = Math.max(1, Math.floor(config.batch.max_texts / 3));
  for (const chunk of chunkRows(contexts, (it) => 3 * it.positions, config.batch.max_tokens, maxItems)) {
    if (ctx.shouldStop()) return;
    const start = performance.now();
    const rows = chunk.flatMap((it) => [
      withContext(it.text.ids, it.context),
      [it.text.ids[0], ...it.context],
      it.text.ids,
    ]);
    // [t_1] alone has no prediction: give it a dummy second token; its count is not used.
    const res = await session.evaluateMany(
      null,
      0,
      rows.map((r) => (r.length < 2 ? [...r, r[0]] : r)),
    );
    const seconds = (performance.now() - start) / 1000 / chunk.length;
    chunk.forEach((it, i) => {
      const [full, alone, plain] = [res[3 * i], res[3 * i + 1], res[3 * i + 2]];
      const n = it.text.ids.length - 1;
      const fullCorrect = Math.round(full.accuracy * (rows[3 * i].length - 1));
      const aloneCorrect = it.context.length > 0 ? Math.round(alone.accuracy * it.context.length) : 0;
      const textCe = full.tokenCe.slice(full.tokenCe.length - n);
      ctx.record({
        condition: 'context',
        run: config.name,
        model: it.model,
        source: it.text.source,
        length: it.text.length,
        n_tokens: it.text.ids.length,
        sample_index: it.text.index,
        context_tokens: it.p,
        n_context: it.context.length,
        n_mem: 0,
        loss: mean(textCe),
        accuracy: (fullCorrect - aloneCorrect) / n,
        original_loss: plain.loss,
        original_accuracy: plain.accuracy,
        loss_at_best_accuracy: null,
        steps: null,
        stop_reason: '',
        regenerated_exact: null,
        vector_file: '',
        seconds,
      });
    });
    ctx.progress({
      accuracy: mean(res.map((r) => r.accuracy)),
      active: chunk.length,
      detail: `${session.name} contexts`,
    });
  }
  if (vectors.length === 0 || ctx.shouldStop()) return;
  const byKey = new Map(vectors.map((v) => [v.key, v]));
  await session.cram(vectors, cramSettings(config), {
    shouldStop: ctx.shouldStop,
    onStep: (p) => ctx.progress({ accuracy: p.meanAccuracy, active: p.active, detail: `${session.name} vectors` }),
    onFinish: async (o) => {
      const it = byKey.get(o.key)!;
      const t = it.text;
      const regen = config.regenerate ? await session.regenerate(o.memory, o.nMem, t.ids) : null;
      const vf = saveStudyVectors(ctx, session, it.model, t, o.memory, o.nMem);
      ctx.record({
        condition: 'vectors',
        run: config.name,
        model: it.model,
        source: t.source,
        length: t.length,
        n_tokens: o.nTokens,
        sample_index: t.index,
        context_tokens: 0,
        n_context: 0,
        n_mem: o.nMem,
        loss: o.bestLoss,
        accuracy: o.bestAccuracy,
        original_loss: o.originalLoss,
        original_accuracy: o.originalAccuracy,
        loss_at_best_accuracy: o.lossAtBestAccuracy,
        steps: o.steps,
        stop_reason: o.stopReason,
        regenerated_exact: regen?.regenerated_exact ?? null,
        vector_file: vf,
        seconds: o.seconds,
      });
    },
  });
}

/**
 * Runs the solution-space items on one loaded model: the restarts (cramming with trajectories kept), then the analyses
 * of texts and groups whose restarts are all done, read back from the vector and trajectory files.
 */
import { cramSettings } from '../../../config/settings.ts';
import { idsSha256 } from '../../../cram/vector-file.ts';
import { definedShares, MAX_PCA_POINTS, pca, thin } from '../../../metrics/pca.ts';
import { cosineSimilarity, norm } from '../../../metrics/stats.ts';
import { saveTextVectors } from '../../../run/crammed-text.ts';
import type { RunContext } from '../../kind.ts';
import { analyseGroup, analyseText } from './analysis.ts';
import type { Config } from './options.ts';
import type { Item, RestartItem, TextItem, GroupItem } from './plan.ts';
import { trajectoryFile, vectorFile, type SolutionSpaceRecord } from './records.ts';
import { trajectoryOf, writeTrajectory } from './trajectories.ts';

export async function run(ctx: RunContext<SolutionSpaceRecord>, todo: Item[]): Promise<void> {
  const config = ctx.config as Config;
  const { session } = ctx;
  const d = session.embedDim;
  const restarts = todo.filter((i): i is RestartItem => i.type === 'restart');
  const analyses = todo.filter((i): i is TextItem => i.type === 'text');
  const groups = todo.filter((i): i is GroupItem => i.type === 'group');
  const unfinished = new Set(restarts.map((r) => r.key));
  const analysed = new Set<string>();

  const analyse = async (item: TextItem) => {
    if (analysed.has(item.key) || ctx.shouldStop() || item.restartKeys.some((k) => unfinished.has(k))) return;
    analysed.add(item.key);
    ctx.record(await analyseText(ctx, item, config));
  };
  const analysisOf = new Map(
    analyses.map((a) => [a.text.source + '|' + a.text.length + '|' + a.text.index + '|' + a.nMem, a]),
  );

  if (restarts.length > 0) {
    const byKey = new Map(restarts.map((r) => [r.key, r]));
    const jobs = restarts.map((r) => ({
      key: r.key,
      ids: r.text.ids,
      nMem: r.nMem,
      seed: r.seed,
      ...(config.vectors_every > 0 ? { vectorsEvery: config.vectors_every } : {}),
    }));
    await session.cram(jobs, cramSettings(config), {
      shouldStop: ctx.shouldStop,
      onStep: (p) => ctx.progress({ accuracy: p.meanAccuracy, active: p.active, detail: `${session.name} restarts` }),
      onFinish: async (o) => {
        const item = byKey.get(o.key)!;
        const t = item.text;
        const vf = vectorFile(item.model, t.source, item.nMem, t.length, t.index, item.restart);
        const tf = trajectoryFile(item.model, t.source, item.nMem, t.length, t.index, item.restart);
        const regen = config.regenerate ? await session.regenerate(o.memory, o.nMem, t.ids) : null;
        const init = o.vectorTrajectory?.vectors[0] ?? null;
        const traj = trajectoryOf(o);
        const own = definedShares(
          traj ? pca(thin(traj.vectors.length, MAX_PCA_POINTS).map((i) => traj.vectors[i])) : null,
        );
        const meta = {
          run: config.name,
          source: t.source,
          length: t.length,
          sample_index: t.index,
          restart: item.restart,
          init_seed: item.seed,
          best_accuracy: o.bestAccuracy,
        };
        // Files first, then the record: a record always has its files.
        saveTextVectors(ctx.file(vf), session, o.memory, o.nMem, t.ids, meta);
        if (traj)
          writeTrajectory(ctx.file(tf), traj.steps, traj.vectors, o.nMem, d, {
            model: session.name,
            ...Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, String(v)])),
          });
        ctx.record({
          record: 'restart',
          run: config.name,
          model: item.model,
          source: t.source,
          length: t.length,
          n_mem: o.nMem,
          sample_index: t.index,
          restart: item.restart,
          n_tokens: o.nTokens,
          init_seed: item.seed,
          original_loss: o.originalLoss,
          original_accuracy: o.originalAccuracy,
          best_loss: o.bestLoss,
          best_accuracy: o.bestAccuracy,
          loss_at_best_accuracy: o.lossAtBestAccuracy,
          steps: o.steps,
          best_step: o.bestStep,
          stop_reason: o.stopReason,
          regenerated_exact: regen?.regenerated_exact ?? false,
          regenerated_prefix_tokens: regen?.regenerated_prefix_tokens ?? -1,
          vector_norm: norm(o.memory),
          init_norm: init ? norm(init) : NaN,
          cos_init_solution: init ? cosineSimilarity(init, o.memory) : NaN,
          pc1_share: own ? own[0] : null,
          pc2_share: own ? own[1] : null,
          trajectory_points: traj?.vectors.length ?? 0,
          seconds: o.seconds,
          embed_dim: d,
          ids_sha256: idsSha256(t.ids),
          vector_file: vf,
          trajectory_file: traj ? tf : '',
        });
        unfinished.delete(o.key);
        const a = analysisOf.get(t.source + '|' + t.length + '|' + t.index + '|' + item.nMem);
        if (a) await analyse(a);
      },
    });
  }
  // Texts whose restarts all finished in an earlier session (or whose analysis a stop put off).
  for (const a of analyses) await analyse(a);
  for (const g of groups) {
    if (ctx.shouldStop() || g.restartKeys.some((k) => unfinished.has(k))) continue;
    ctx.record(analyseGroup(ctx, g, config));
  }
}

/**
 * The analyses of the solution-space kind, read back from the restarts' vector and trajectory files (so they run the
 * same whether the restarts finished in this session or an earlier one): per text the cosines, the interpolation and
 * the joint trajectory PCA; per group the cosines within and across texts.
 */
import { idsSha256, readVectorFile } from '../../../cram/vector-file.ts';
import { definedShares, MAX_PCA_POINTS, pca, thin, type PcaResult } from '../../../metrics/pca.ts';
import { mean, norm, std } from '../../../metrics/stats.ts';
import { sig } from '../../../report/format.ts';
import { evaluateRows, regenerateRows } from '../../batched-eval.ts';
import type { RunContext } from '../../kind.ts';
import type { StudyText } from '../../study-texts.ts';
import { alphas, interpolate, solutionCosines, type CosinePair } from './math.ts';
import type { Config } from './options.ts';
import type { GroupItem, TextItem } from './plan.ts';
import {
  trajectoryFile,
  vectorFile,
  type GroupRecord,
  type InterpolationPair,
  type SolutionSpaceRecord,
  type TextRecord,
} from './records.ts';
import { readTrajectory } from './trajectories.ts';

function readSolution(
  ctx: RunContext<SolutionSpaceRecord>,
  model: string,
  t: StudyText,
  nMem: number,
  r: number,
): { memory: Float32Array; accuracy: number } {
  const path = ctx.file(vectorFile(model, t.source, nMem, t.length, t.index, r));
  const { memory, meta } = readVectorFile(path);
  if (meta.ids_sha256 !== idsSha256(t.ids))
    throw new Error(
      `${path} holds vectors for another text (ids hash differs); move the run folder away and start again`,
    );
  return { memory, accuracy: Number(meta.extra?.best_accuracy) };
}

export async function analyseText(
  ctx: RunContext<SolutionSpaceRecord>,
  item: TextItem,
  config: Config,
): Promise<TextRecord> {
  const start = performance.now();
  const { session } = ctx;
  const t = item.text;
  const K = item.nMem;
  const R = config.restarts;
  const sol = Array.from({ length: R }, (_, r) => readSolution(ctx, item.model, t, K, r));
  const intra = solutionCosines(sol.map((s, r) => ({ text: t.index, restart: r, vector: s.memory }))).intra;
  const as = alphas(config.interpolation_points);
  const pairs: [number, number][] = [];
  for (let a = 0; a < R; a++) for (let b = a + 1; b < R; b++) pairs.push([a, b]);
  const rows = pairs.flatMap(([a, b]) =>
    as.map((al) => ({ memory: interpolate(sol[a].memory, sol[b].memory, al), ids: t.ids })),
  );
  const evals = await evaluateRows(session, K, rows, config.batch);
  const regens = config.regenerate
    ? await regenerateRows(session, K, rows as { memory: Float32Array; ids: number[] }[], config.batch)
    : null;
  const P = as.length;
  const mid = as.reduce((best, al, i) => (Math.abs(al - 0.5) < Math.abs(as[best] - 0.5) ? i : best), 0);
  let mismatches = 0;
  const interpolation: InterpolationPair[] = pairs.map(([a, b], p) => {
    const slice = <T>(xs: T[]) => xs.slice(p * P, (p + 1) * P);
    const ev = slice(evals);
    const rg = regens ? slice(regens) : [];
    const endNorm = (norm(sol[a].memory) + norm(sol[b].memory)) / 2;
    if (ev[0].accuracy !== sol[a].accuracy) mismatches++;
    if (ev[P - 1].accuracy !== sol[b].accuracy) mismatches++;
    return {
      restart_a: a,
      restart_b: b,
      accuracy: ev.map((e) => e.accuracy),
      loss: ev.map((e) => sig(e.loss)),
      exact: rg.map((g) => g.regenerated_exact),
      prefix_tokens: rg.map((g) => g.regenerated_prefix_tokens),
      norm_ratio: slice(rows).map((r) => sig(norm(r.memory!) / endNorm, 4)),
    };
  });
  let joint: PcaResult | null = null;
  const jointPaths: TextRecord['joint_pca'] = [];
  if (config.vectors_every > 0) {
    const trajs = Array.from({ length: R }, (_, r) =>
      readTrajectory(ctx.file(trajectoryFile(item.model, t.source, K, t.length, t.index, r))),
    );
    // Every restart thinned alike so that the joint set stays within MAX_PCA_POINTS.
    const per = Math.max(2, Math.floor(MAX_PCA_POINTS / R));
    const picked = trajs.map((tr) => thin(tr.vectors.length, per));
    joint = pca(trajs.flatMap((tr, r) => picked[r].map((i) => tr.vectors[i])));
    let row = 0;
    trajs.forEach((tr, r) => {
      const idx = picked[r];
      const coords = joint!.coords.slice(row, row + idx.length);
      row += idx.length;
      jointPaths.push({
        restart: r,
        steps: idx.map((i) => tr.steps[i]),
        pc1: coords.map((c) => sig(c[0], 5)),
        pc2: coords.map((c) => sig(c[1], 5)),
      });
    });
  }
  return {
    record: 'text',
    run: config.name,
    model: item.model,
    source: t.source,
    length: t.length,
    n_mem: K,
    sample_index: t.index,
    n_tokens: t.ids.length,
    restarts: R,
    restart_accuracy: sol.map((s) => s.accuracy),
    intra_cosine_mean: mean(intra.map((c) => c.cosine)),
    intra_cosines: intra.map((c) => ({ restart_a: c.restart_a, restart_b: c.restart_b, cosine: sig(c.cosine) })),
    alphas: as.map((a) => sig(a)),
    interpolation,
    mid_accuracy_mean: mean(interpolation.map((p) => p.accuracy[mid])),
    min_accuracy_mean: mean(interpolation.map((p) => Math.min(...p.accuracy))),
    mid_exact_share: regens ? mean(interpolation.map((p) => (p.exact[mid] ? 1 : 0))) : null,
    endpoint_mismatches: mismatches,
    joint_pc1_share: definedShares(joint)?.[0] ?? null,
    joint_pc2_share: definedShares(joint)?.[1] ?? null,
    joint_pca: jointPaths,
    seconds: (performance.now() - start) / 1000,
  };
}

export function analyseGroup(ctx: RunContext<SolutionSpaceRecord>, g: GroupItem, config: Config): GroupRecord {
  const solutions = g.texts.flatMap((t) =>
    Array.from({ length: config.restarts }, (_, r) => ({
      text: t.index,
      restart: r,
      vector: readSolution(ctx, g.model, t, g.nMem, r).memory,
    })),
  );
  const { intra, inter } = solutionCosines(solutions);
  const pack = (ps: CosinePair[]) =>
    ps.map(
      (p) => [p.text_a, p.restart_a, p.text_b, p.restart_b, sig(p.cosine)] as [number, number, number, number, number],
    );
  return {
    record: 'group',
    run: config.name,
    model: g.model,
    source: g.source,
    length: g.length,
    n_mem: g.nMem,
    texts: g.texts.length,
    solutions: solutions.length,
    intra_cosine_mean: mean(intra.map((p) => p.cosine)),
    intra_cosine_std: std(intra.map((p) => p.cosine)),
    inter_cosine_mean: mean(inter.map((p) => p.cosine)),
    inter_cosine_std: std(inter.map((p) => p.cosine)),
    intra: pack(intra),
    inter: pack(inter),
  };
}

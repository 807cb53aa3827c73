/**
 * Runs the solution-space items on one loaded model: the restarts (cramming with trajectories kept), then the analyses
 * of texts and groups whose restarts are all done, read back from the vector and trajectory files.
 */
import { cramSettings } from '../../../config/settings.ts';
import { idsSha256, readVectorFile } from '../../../cram/vector-file.ts';
import { writeFileAtomic } from '../../../files.ts';
import { readSafetensorsFile, serializeSafetensors } from '../../../models/safetensors.ts';
import { definedShares, MAX_PCA_POINTS, pca, thin, type PcaResult } from '../../../metrics/pca.ts';
import { cosineSimilarity, mean, norm, std } from '../../../metrics/stats.ts';
import { sig } from '../../../report/format.ts';
import { saveTextVectors } from '../../../run/crammed-text.ts';
import type { CramOutcome } from '../../../run/model-session.ts';
import { evaluateRows, regenerateRows } from '../../batched-eval.ts';
import type { StudyText } from '../../study-texts.ts';
import type { RunContext } from '../../kind.ts';
import { alphas, interpolate, solutionCosines, type CosinePair } from './math.ts';
import type { Config } from './options.ts';
import type { GroupItem, Item, RestartItem, TextItem } from './plan.ts';
import {
  trajectoryFile,
  vectorFile,
  type GroupRecord,
  type InterpolationPair,
  type SolutionSpaceRecord,
  type TextRecord,
} from './records.ts';

function writeTrajectory(
  path: string,
  steps: number[],
  vectors: Float32Array[],
  nMem: number,
  d: number,
  meta: Record<string, string>,
): void {
  const flat = new Float32Array(vectors.length * nMem * d);
  vectors.forEach((v, i) => flat.set(v, i * nMem * d));
  writeFileAtomic(
    path,
    serializeSafetensors(
      {
        vectors: { shape: [vectors.length, nMem, d], data: flat },
        steps: { shape: [steps.length], data: Float32Array.from(steps) },
      },
      { format: 'cramming-trajectory/1', ...meta },
    ),
  );
}

function readTrajectory(path: string): { steps: number[]; vectors: Float32Array[] } {
  const { tensors } = readSafetensorsFile(path);
  const v = tensors.get('vectors');
  const s = tensors.get('steps');
  if (!v || !s || v.shape.length !== 3 || s.shape[0] !== v.shape[0])
    throw new Error(`${path}: not a trajectory file (tensors "vectors" [T, K, d] and "steps" [T])`);
  const size = v.shape[1] * v.shape[2];
  return {
    steps: Array.from(s.data),
    vectors: Array.from({ length: v.shape[0] }, (_, i) => v.data.slice(i * size, (i + 1) * size)),
  };
}

/** The trajectory of a finished restart: the snapshots, then the kept vectors when they came after the last one. */
function trajectoryOf(o: CramOutcome): { steps: number[]; vectors: Float32Array[] } | null {
  const t = o.vectorTrajectory;
  if (!t) return null;
  const steps = [...t.steps];
  const vectors = [...t.vectors];
  // The kept vectors were measured at step bestStep, i.e. after bestStep − 1 updates.
  const keptAt = o.bestStep - 1;
  if (keptAt > steps[steps.length - 1]) {
    steps.push(keptAt);
    vectors.push(Float32Array.from(o.memory));
  }
  return { steps, vectors };
}

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

async function analyseText(ctx: RunContext<SolutionSpaceRecord>, item: TextItem, config: Config): Promise<TextRecord> {
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

function analyseGroup(ctx: RunContext<SolutionSpaceRecord>, g: GroupItem, config: Config): GroupRecord {
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

/**
 * `experiment: solution-space` — the structure of the solutions (paper App. E, Figs. 7–8; Progressive Cramming's
 * trajectory PCA). Every text is crammed R times from R random starts (distinct seeds; restart 0 uses the capacity
 * sweep's seed, so it is the capacity run's solution). Then:
 *   - cosine similarity of the solutions: between restarts of the same text (intra) and of different texts (inter);
 *   - the straight line between every pair of restarts of a text, at `interpolation_points` points (both ends
 *     included): teacher-forced accuracy, loss and exact greedy regeneration at each point;
 *   - PCA of the optimisation trajectory (the vectors every `vectors_every` steps, from the random start to the kept
 *     solution): share of variance in PC1 and PC2 per restart, and all restarts of a text in one PC1–PC2 plane.
 *
 * Work items and records (solution-space.jsonl), each with its own key, so a kill loses at most the restarts in flight:
 *   restart  one (text, restart) crammed: its outcome, its vectors (vectors/…-r<r>.safetensors) and trajectory
 *            (trajectories/…-r<r>.safetensors: `vectors` [T, K, d], `steps` [T]), its own PCA shares;
 *   text     once every restart of the text is done: intra-text cosines, the interpolation, the joint PCA;
 *   group    once every restart of every text of a (model, source, L, K) is done: intra- and inter-text cosines.
 * The analyses read the vector files, so they run the same whether the restarts finished in this session or earlier;
 * the files are written whatever `save_vectors` says.
 */
import { z } from 'zod';
import type { ExperimentConfig } from '../../config/schema.ts';
import { cramSettings } from '../../config/settings.ts';
import { idsSha256, readVectorFile } from '../../cram/vector-file.ts';
import { writeFileAtomic } from '../../files.ts';
import { readSafetensorsFile, serializeSafetensors } from '../../models/safetensors.ts';
import {
  interpolationFigure,
  solutionCosineFigure,
  trajectoryPcaFigure,
  type Figure,
} from '../../report/figures/index.ts';
import type { CosinePoint } from '../../report/figures/solution-cosine.ts';
import type { InterpolationPoint } from '../../report/figures/interpolation.ts';
import type { TrajectoryPoint } from '../../report/figures/trajectory-pca.ts';
import { mdTable, type ReportContent } from '../../report/report.ts';
import { toCsv } from '../../report/tables.ts';
import { describeBadLines } from '../../results/run-folder.ts';
import type { ExperimentKind, Plan, PlanContext, ReportInput, RunContext, WorkItem } from '../kind.ts';
import type { CramOutcome } from '../../run/model-session.ts';
import {
  batchLimits,
  cosineSimilarity,
  evaluateRows,
  fileSafe,
  fmt,
  fmtPm,
  mean,
  norm,
  pct,
  planStudyTexts,
  regenerateRows,
  sig,
  std,
  type StudyText,
} from './study-common.ts';
import { saveTextVectors } from '../../run/crammed-text.ts';

/** What the solution-space figures are drawn from (rows made by kinds/solution-space.ts). */
export interface SolutionSpaceFigureData {
  cosines: readonly CosinePoint[];
  interpolation: readonly InterpolationPoint[];
  trajectories: readonly TrajectoryPoint[];
  /** Joint PC1 and PC2 shares per trajectory panel. */
  panelShares: Readonly<Record<string, [number, number]>>;
}

/** `experiment: solution-space` (paper Figs. 7 and 8, trajectory PCA). */
export const SOLUTION_SPACE_FIGURES: readonly Figure<SolutionSpaceFigureData>[] = [
  { name: 'solution_cosine', draw: (d) => solutionCosineFigure(d.cosines) },
  { name: 'interpolation_accuracy', draw: (d) => interpolationFigure(d.interpolation) },
  { name: 'trajectory_pca', draw: (d) => trajectoryPcaFigure(d.trajectories, d.panelShares) },
];

// ---------------------------------------------------------------- options

export const SOLUTION_SPACE_OPTIONS = {
  /** R: random restarts per text (distinct seeds). */
  restarts: z.number().int().min(2).max(1000).default(8),
  /** Points on the straight line between two restarts, both ends included (≥ 11 for the paper's Fig. 8). */
  interpolation_points: z.number().int().min(3).max(1001).default(11),
  /** Keep the vectors every this many optimisation steps, for the trajectory PCA (0: no trajectories, no PCA). */
  vectors_every: z.number().int().min(0).max(1_000_000).default(10),
};
const OptionsSchema = z.object(SOLUTION_SPACE_OPTIONS);
type Config = ExperimentConfig & z.infer<typeof OptionsSchema>;

// ---------------------------------------------------------------- math (exported for the tests)

/** (1 − α)·a + α·b in float32; α = 0 gives a and α = 1 gives b exactly. */
export function interpolate(a: Float32Array, b: Float32Array, alpha: number): Float32Array {
  if (a.length !== b.length) throw new Error(`interpolating vectors of ${a.length} and ${b.length} values`);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (1 - alpha) * a[i] + alpha * b[i];
  return out;
}

/** n points from 0 to 1, both included. */
export const alphas = (n: number): number[] => Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : i / (n - 1)));

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major, float64) by cyclic Jacobi rotations. Returns the
 * eigenvalues in descending order and the eigenvectors as the columns of a row-major n×n matrix.
 */
export function symmetricEigen(matrix: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) <= 1e-300) continue;
        const app = a[p * n + p];
        const aqq = a[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values: order.map((i) => a[i * n + i]), vectors };
}

export interface PcaResult {
  /** Share of the total variance on each of the first `k` components. */
  shares: number[];
  /** Total variance (sum of squared distances from the mean). */
  total: number;
  /** Coordinates of every point on the first `k` components, [points][k]. */
  coords: number[][];
  /** Points used (a trajectory longer than MAX_PCA_POINTS is thinned evenly, first and last kept). */
  points: number;
}

/**
 * Fewest trajectory points whose PCA shares mean something: one point has no variance (0/0) and two always lie on one
 * line (PC1 = 100 % whatever the optimisation did), so their shares are undefined: null in records, left out (and
 * counted) in summaries.
 */
export const MIN_PCA_POINTS = 3;

/** PC1 and PC2 shares of a PCA, or null where they are undefined (too few points, or no variance at all). */
export function definedShares(p: PcaResult | null): [number, number] | null {
  return p !== null && p.points >= MIN_PCA_POINTS && p.total > 0 && Number.isFinite(p.shares[0])
    ? [p.shares[0], p.shares[1] ?? 0]
    : null;
}

/** Longest point set (and widest vector) the PCA takes whole: beyond, points are thinned evenly. */
export const MAX_PCA_POINTS = 600;

/** Indices 0…n−1 thinned evenly to at most `max` (first and last kept). */
export function thin(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: max }, (_, i) => Math.round((i * (n - 1)) / (max - 1)));
}

/**
 * PCA of points (rows): centred on their mean; through the D×D covariance when D ≤ points, else the points' Gram
 * matrix. Signs are fixed so that the last point has a non-negative coordinate on every component.
 */
export function pca(points: readonly ArrayLike<number>[], k = 2): PcaResult {
  const T = points.length;
  if (T === 0) return { shares: Array(k).fill(NaN), total: 0, coords: [], points: 0 };
  const D = points[0].length;
  const mu = new Float64Array(D);
  for (const p of points) for (let j = 0; j < D; j++) mu[j] += p[j] / T;
  const X = points.map((p) => Float64Array.from({ length: D }, (_, j) => p[j] - mu[j]));
  let total = 0;
  for (const x of X) for (let j = 0; j < D; j++) total += x[j] * x[j];
  const coords: number[][] = X.map(() => Array(k).fill(0));
  const shares: number[] = Array(k).fill(0);
  if (total === 0) return { shares, total, coords, points: T };
  if (D <= T) {
    const C = new Float64Array(D * D);
    for (const x of X)
      for (let i = 0; i < D; i++) {
        const xi = x[i];
        if (xi === 0) continue;
        for (let j = i; j < D; j++) C[i * D + j] += xi * x[j];
      }
    for (let i = 0; i < D; i++) for (let j = 0; j < i; j++) C[i * D + j] = C[j * D + i];
    const { values, vectors } = symmetricEigen(C, D);
    for (let c = 0; c < Math.min(k, D); c++) {
      shares[c] = Math.max(values[c], 0) / total;
      X.forEach((x, t) => {
        let s = 0;
        for (let j = 0; j < D; j++) s += x[j] * vectors[j * D + c];
        coords[t][c] = s;
      });
    }
  } else {
    const G = new Float64Array(T * T);
    for (let i = 0; i < T; i++)
      for (let j = i; j < T; j++) {
        let s = 0;
        const a = X[i];
        const b = X[j];
        for (let q = 0; q < D; q++) s += a[q] * b[q];
        G[i * T + j] = s;
        G[j * T + i] = s;
      }
    const { values, vectors } = symmetricEigen(G, T);
    for (let c = 0; c < Math.min(k, T); c++) {
      const lam = Math.max(values[c], 0);
      shares[c] = lam / total;
      const sv = Math.sqrt(lam);
      for (let t = 0; t < T; t++) coords[t][c] = vectors[t * T + c] * sv;
    }
  }
  for (let c = 0; c < k; c++) if (coords[T - 1][c] < 0) for (const row of coords) row[c] = -row[c];
  return { shares, total, coords, points: T };
}

export interface CosinePair {
  text_a: number;
  restart_a: number;
  text_b: number;
  restart_b: number;
  cosine: number;
}

/** Cosines of every pair of solutions: `intra` (same text, restart_a < restart_b) and `inter` (different texts). */
export function solutionCosines(solutions: readonly { text: number; restart: number; vector: ArrayLike<number> }[]): {
  intra: CosinePair[];
  inter: CosinePair[];
} {
  const intra: CosinePair[] = [];
  const inter: CosinePair[] = [];
  for (let i = 0; i < solutions.length; i++) {
    for (let j = i + 1; j < solutions.length; j++) {
      const a = solutions[i];
      const b = solutions[j];
      const pair = {
        text_a: a.text,
        restart_a: a.restart,
        text_b: b.text,
        restart_b: b.restart,
        cosine: cosineSimilarity(a.vector, b.vector),
      };
      (a.text === b.text ? intra : inter).push(pair);
    }
  }
  return { intra, inter };
}

// ---------------------------------------------------------------- records

interface Where {
  run: string;
  model: string;
  source: string;
  length: number;
  n_mem: number;
}

export interface RestartRecord extends Where {
  record: 'restart';
  sample_index: number;
  restart: number;
  n_tokens: number;
  /** Seed string of the initial vectors. */
  init_seed: string;
  original_loss: number;
  original_accuracy: number;
  best_loss: number;
  best_accuracy: number;
  loss_at_best_accuracy: number;
  steps: number;
  best_step: number;
  stop_reason: string;
  regenerated_exact: boolean;
  regenerated_prefix_tokens: number;
  /** L2 norm of the kept vectors (all K together) and of the initial ones; cosine between the two. */
  vector_norm: number;
  init_norm: number;
  cos_init_solution: number;
  /** This restart's own trajectory PCA (null without trajectories). */
  pc1_share: number | null;
  pc2_share: number | null;
  trajectory_points: number;
  seconds: number;
  embed_dim: number;
  ids_sha256: string;
  vector_file: string;
  trajectory_file: string;
}

export interface InterpolationPair {
  restart_a: number;
  restart_b: number;
  accuracy: number[];
  loss: number[];
  /** Exact greedy regeneration at each point (empty when `regenerate: false`). */
  exact: boolean[];
  prefix_tokens: number[];
  /** ‖interpolated‖ / mean(‖a‖, ‖b‖) at each point. */
  norm_ratio: number[];
}

export interface TextRecord extends Where {
  record: 'text';
  sample_index: number;
  n_tokens: number;
  restarts: number;
  /** Kept accuracy of each restart (read from its vector file), by restart index. */
  restart_accuracy: number[];
  intra_cosine_mean: number;
  intra_cosines: { restart_a: number; restart_b: number; cosine: number }[];
  alphas: number[];
  interpolation: InterpolationPair[];
  /** Mean over pairs of the accuracy at the midpoint (α = 0.5, or the point nearest to it). */
  mid_accuracy_mean: number;
  /** Mean over pairs of the lowest accuracy along the line. */
  min_accuracy_mean: number;
  /** Share of pairs whose midpoint regenerates the text exactly (null without regeneration). */
  mid_exact_share: number | null;
  /** Ends of the lines whose teacher-forced accuracy differs from the restart's kept accuracy (a self-check: 0). */
  endpoint_mismatches: number;
  /** PCA of all restarts' trajectories of this text together (null without trajectories). */
  joint_pc1_share: number | null;
  joint_pc2_share: number | null;
  joint_pca: { restart: number; steps: number[]; pc1: number[]; pc2: number[] }[];
  seconds: number;
}

export interface GroupRecord extends Where {
  record: 'group';
  texts: number;
  solutions: number;
  intra_cosine_mean: number;
  intra_cosine_std: number;
  inter_cosine_mean: number;
  inter_cosine_std: number;
  /** Every pair: [text_a, restart_a, text_b, restart_b, cosine]. */
  intra: [number, number, number, number, number][];
  inter: [number, number, number, number, number][];
}

export type SolutionSpaceRecord = RestartRecord | TextRecord | GroupRecord;

const groupKey = (model: string, source: string, length: number, nMem: number) =>
  `${model}|${source}|L${length}|K${nMem}`;
const textKey = (g: string, index: number) => `${g}|i${index}`;
export const restartKey = (g: string, index: number, r: number) => `${textKey(g, index)}|r${r}`;
const analysisKey = (g: string, index: number) => `${textKey(g, index)}|analysis`;
const interKey = (g: string) => `${g}|cosines`;

function recordKey(r: SolutionSpaceRecord): string {
  const g = groupKey(r.model, r.source, r.length, r.n_mem);
  if (r.record === 'restart') return restartKey(g, r.sample_index, r.restart);
  if (r.record === 'text') return analysisKey(g, r.sample_index);
  return interKey(g);
}

const stem = (model: string, source: string, nMem: number, length: number, index: number) =>
  `${model}/${fileSafe(source)}/K${nMem}/L${length}-i${index}`;
export const vectorFile = (model: string, source: string, nMem: number, length: number, index: number, r: number) =>
  `vectors/${stem(model, source, nMem, length, index)}-r${r}.safetensors`;
export const trajectoryFile = (model: string, source: string, nMem: number, length: number, index: number, r: number) =>
  `trajectories/${stem(model, source, nMem, length, index)}-r${r}.safetensors`;

// ---------------------------------------------------------------- planning

interface RestartItem extends WorkItem {
  type: 'restart';
  text: StudyText;
  model: string;
  nMem: number;
  restart: number;
  seed: string;
}
interface TextItem extends WorkItem {
  type: 'text';
  text: StudyText;
  model: string;
  nMem: number;
  restartKeys: string[];
}
interface GroupItem extends WorkItem {
  type: 'group';
  model: string;
  source: string;
  length: number;
  nMem: number;
  texts: StudyText[];
  restartKeys: string[];
}
type Item = RestartItem | TextItem | GroupItem;

function plan(ctx: PlanContext): Plan<Item> {
  const config = ctx.config as Config;
  const { texts, skipped } = planStudyTexts(ctx, { kind: 'solution-space' });
  const model = ctx.model.name;
  const restarts: RestartItem[] = [];
  const analyses: TextItem[] = [];
  const groups: GroupItem[] = [];
  for (const nMem of config.n_mem) {
    const byGroup = new Map<string, StudyText[]>();
    for (const t of texts) {
      const g = groupKey(model, t.source, t.length, nMem);
      byGroup.set(g, [...(byGroup.get(g) ?? []), t]);
      const keys: string[] = [];
      for (let r = 0; r < config.restarts; r++) {
        const key = restartKey(g, t.index, r);
        keys.push(key);
        // Restart 0 starts where the capacity sweep starts this text; the others from their own streams.
        const seed =
          r === 0
            ? `${config.seed}|${t.source}|${t.index}|K${nMem}`
            : `${config.seed}|${t.source}|${t.index}|K${nMem}|restart${r}`;
        restarts.push({ type: 'restart', key, positions: nMem + t.ids.length, text: t, model, nMem, restart: r, seed });
      }
      analyses.push({
        type: 'text',
        key: analysisKey(g, t.index),
        positions: nMem + t.ids.length,
        text: t,
        model,
        nMem,
        restartKeys: keys,
      });
    }
    for (const [g, ts] of byGroup) {
      groups.push({
        type: 'group',
        key: interKey(g),
        positions: 0,
        model,
        source: ts[0].source,
        length: ts[0].length,
        nMem,
        texts: ts,
        restartKeys: ts.flatMap((t) => Array.from({ length: config.restarts }, (_, r) => restartKey(g, t.index, r))),
      });
    }
  }
  restarts.sort((a, b) => a.nMem - b.nMem || a.text.ids.length - b.text.ids.length || a.key.localeCompare(b.key));
  return { items: [...restarts, ...analyses, ...groups], skipped };
}

// ---------------------------------------------------------------- running

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

async function run(ctx: RunContext<SolutionSpaceRecord>, todo: Item[]): Promise<void> {
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
  const evals = await evaluateRows(session, K, rows, batchLimits(config));
  const regens = config.regenerate
    ? await regenerateRows(session, K, rows as { memory: Float32Array; ids: number[] }[], batchLimits(config))
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

// ---------------------------------------------------------------- report

const COLUMNS = [
  'record',
  'run',
  'model',
  'source',
  'length',
  'n_mem',
  'sample_index',
  'restart',
  'n_tokens',
  'init_seed',
  'original_loss',
  'original_accuracy',
  'best_loss',
  'best_accuracy',
  'loss_at_best_accuracy',
  'steps',
  'best_step',
  'stop_reason',
  'regenerated_exact',
  'regenerated_prefix_tokens',
  'vector_norm',
  'init_norm',
  'cos_init_solution',
  'pc1_share',
  'pc2_share',
  'trajectory_points',
  'restarts',
  'intra_cosine_mean',
  'mid_accuracy_mean',
  'min_accuracy_mean',
  'mid_exact_share',
  'endpoint_mismatches',
  'joint_pc1_share',
  'joint_pc2_share',
  'texts',
  'solutions',
  'intra_cosine_std',
  'inter_cosine_mean',
  'inter_cosine_std',
  'seconds',
  'embed_dim',
  'ids_sha256',
  'vector_file',
  'trajectory_file',
] as const;

export interface SolutionSpaceSummaryRow {
  model: string;
  source: string;
  length: number;
  n_mem: number;
  texts: number;
  restarts: number;
  best_accuracy_mean: number;
  solved_share: number;
  exact_share: number;
  intra_cosine_mean: number;
  intra_cosine_std: number;
  inter_cosine_mean: number;
  inter_cosine_std: number;
  endpoint_accuracy_mean: number;
  mid_accuracy_mean: number;
  min_accuracy_mean: number;
  mid_exact_share: number | null;
  endpoint_mismatches: number;
  /** Over restarts with defined shares (null when none has them). */
  pc1_share_mean: number | null;
  pc2_share_mean: number | null;
  pc12_share_mean: number | null;
  pc12_share_std: number | null;
  joint_pc12_share_mean: number | null;
  /** Restarts with a trajectory whose PCA shares are undefined (fewer than MIN_PCA_POINTS points), left out above. */
  pca_left_out: number;
  /** Texts whose joint PCA is undefined, left out of joint_pc12_share_mean. */
  joint_pca_left_out: number;
}

export function solutionSpaceSummary(records: readonly SolutionSpaceRecord[]): SolutionSpaceSummaryRow[] {
  const groups = new Map<string, SolutionSpaceRecord[]>();
  for (const r of records) {
    const g = groupKey(r.model, r.source, r.length, r.n_mem);
    groups.set(g, [...(groups.get(g) ?? []), r]);
  }
  return [...groups.values()]
    .map((rs) => {
      const restarts = rs.filter((r): r is RestartRecord => r.record === 'restart');
      const texts = rs.filter((r): r is TextRecord => r.record === 'text');
      const group = rs.find((r): r is GroupRecord => r.record === 'group');
      const f = rs[0];
      // Records written before undefined shares were null can hold 0/0 shares of 1–2 points: left out alike.
      const definedPca = (r: RestartRecord) =>
        r.pc1_share !== null && r.pc2_share !== null && r.trajectory_points >= MIN_PCA_POINTS;
      const pcs = restarts.filter(definedPca);
      const withTrajectory = restarts.filter((r) => r.trajectory_points > 0);
      const pc12 = pcs.map((r) => r.pc1_share! + r.pc2_share!);
      const intra = group ? group.intra.map((p) => p[4]) : texts.flatMap((t) => t.intra_cosines.map((c) => c.cosine));
      const inter = group ? group.inter.map((p) => p[4]) : [];
      const ends = texts.flatMap((t) =>
        t.interpolation.flatMap((p) => [p.accuracy[0], p.accuracy[p.accuracy.length - 1]]),
      );
      const exactTexts = texts.filter((t) => t.mid_exact_share !== null);
      const jointDefined = (t: TextRecord) =>
        t.joint_pc1_share !== null &&
        t.joint_pc2_share !== null &&
        t.joint_pca.reduce((a, p) => a + p.steps.length, 0) >= MIN_PCA_POINTS;
      const joint = texts.filter(jointDefined).map((t) => t.joint_pc1_share! + t.joint_pc2_share!);
      const orNull = (x: number) => (Number.isFinite(x) ? x : null);
      return {
        model: f.model,
        source: f.source,
        length: f.length,
        n_mem: f.n_mem,
        texts: new Set(restarts.map((r) => r.sample_index)).size,
        restarts: restarts.length,
        best_accuracy_mean: mean(restarts.map((r) => r.best_accuracy)),
        solved_share: mean(restarts.map((r) => (r.best_accuracy === 1 ? 1 : 0))),
        exact_share: mean(restarts.map((r) => (r.regenerated_exact ? 1 : 0))),
        intra_cosine_mean: mean(intra),
        intra_cosine_std: std(intra),
        inter_cosine_mean: mean(inter),
        inter_cosine_std: std(inter),
        endpoint_accuracy_mean: mean(ends),
        mid_accuracy_mean: mean(texts.map((t) => t.mid_accuracy_mean)),
        min_accuracy_mean: mean(texts.map((t) => t.min_accuracy_mean)),
        mid_exact_share: exactTexts.length ? mean(exactTexts.map((t) => t.mid_exact_share!)) : null,
        endpoint_mismatches: texts.reduce((a, t) => a + t.endpoint_mismatches, 0),
        pc1_share_mean: orNull(mean(pcs.map((r) => r.pc1_share!))),
        pc2_share_mean: orNull(mean(pcs.map((r) => r.pc2_share!))),
        pc12_share_mean: orNull(mean(pc12)),
        pc12_share_std: orNull(std(pc12)),
        joint_pc12_share_mean: orNull(mean(joint)),
        pca_left_out: withTrajectory.filter((r) => !definedPca(r)).length,
        joint_pca_left_out: texts.filter((t) => t.joint_pca.length > 0 && !jointDefined(t)).length,
      };
    })
    .sort(
      (a, b) =>
        a.model.localeCompare(b.model) || a.source.localeCompare(b.source) || a.n_mem - b.n_mem || a.length - b.length,
    );
}

const TRAJECTORY_PANELS = 8;
const label = (r: { model: string; source: string; length: number; n_mem: number }) =>
  `${r.model}, ${r.source}, L = ${r.length}, K = ${r.n_mem}`;

function report(input: ReportInput<SolutionSpaceRecord>): ReportContent {
  const { records } = input;
  const restarts = records.filter((r): r is RestartRecord => r.record === 'restart');
  const texts = records.filter((r): r is TextRecord => r.record === 'text');
  const groups = records.filter((r): r is GroupRecord => r.record === 'group');
  const summary = solutionSpaceSummary(records);
  // Trajectory panels: the text alone when there is one (model, source, L, K), with its group otherwise.
  const several = summary.length > 1;
  const panelOf = label;
  const textPanel = (r: { model: string; source: string; length: number; n_mem: number; sample_index: number }) =>
    several ? `${r.model}, L = ${r.length}, K = ${r.n_mem}, text #${r.sample_index}` : `text #${r.sample_index}`;

  const cosRows: (CosinePair & {
    model: string;
    source: string;
    length: number;
    n_mem: number;
    pair: 'same text' | 'different texts';
  })[] = [];
  for (const g of groups) {
    for (const [which, ps] of [
      ['same text', g.intra],
      ['different texts', g.inter],
    ] as const) {
      for (const p of ps)
        cosRows.push({
          model: g.model,
          source: g.source,
          length: g.length,
          n_mem: g.n_mem,
          pair: which,
          text_a: p[0],
          restart_a: p[1],
          text_b: p[2],
          restart_b: p[3],
          cosine: p[4],
        });
    }
  }
  // Before a group is analysed, its texts' intra-text cosines are still shown.
  const analysedGroups = new Set(groups.map((g) => groupKey(g.model, g.source, g.length, g.n_mem)));
  for (const t of texts) {
    if (analysedGroups.has(groupKey(t.model, t.source, t.length, t.n_mem))) continue;
    for (const c of t.intra_cosines)
      cosRows.push({
        model: t.model,
        source: t.source,
        length: t.length,
        n_mem: t.n_mem,
        pair: 'same text',
        text_a: t.sample_index,
        restart_a: c.restart_a,
        text_b: t.sample_index,
        restart_b: c.restart_b,
        cosine: c.cosine,
      });
  }
  const interpRows = texts.flatMap((t) =>
    t.interpolation.flatMap((p) =>
      t.alphas.map((al, i) => ({
        model: t.model,
        source: t.source,
        length: t.length,
        n_mem: t.n_mem,
        sample_index: t.sample_index,
        restart_a: p.restart_a,
        restart_b: p.restart_b,
        alpha: al,
        accuracy: p.accuracy[i],
        loss: p.loss[i],
        regenerated_exact: p.exact.length ? p.exact[i] : null,
        regenerated_prefix_tokens: p.prefix_tokens.length ? p.prefix_tokens[i] : null,
        norm_ratio: p.norm_ratio[i],
      })),
    ),
  );
  // The trajectory figure draws 8 texts, as many from each (model, source, L, K) as fit.
  const perGroup = Math.max(1, Math.floor(TRAJECTORY_PANELS / Math.max(1, summary.length)));
  const drawn = new Set<string>();
  for (const s of summary) {
    const idx = [...new Set(texts.filter((t) => panelOf(t) === panelOf(s)).map((t) => t.sample_index))]
      .sort((a, b) => a - b)
      .slice(0, perGroup);
    for (const i of idx) drawn.add(`${panelOf(s)}|${i}`);
  }
  const pathRows = texts.flatMap((t) =>
    t.joint_pca.flatMap((p) =>
      p.steps.map((s, i) => ({
        model: t.model,
        source: t.source,
        length: t.length,
        n_mem: t.n_mem,
        sample_index: t.sample_index,
        restart: p.restart,
        step: s,
        pc1: p.pc1[i],
        pc2: p.pc2[i],
      })),
    ),
  );
  const pcaRows = [
    ...restarts.map((r) => ({
      model: r.model,
      source: r.source,
      length: r.length,
      n_mem: r.n_mem,
      sample_index: r.sample_index,
      restart: r.restart as number | string,
      pc1_share: r.pc1_share,
      pc2_share: r.pc2_share,
      points: r.trajectory_points,
    })),
    ...texts.map((t) => ({
      model: t.model,
      source: t.source,
      length: t.length,
      n_mem: t.n_mem,
      sample_index: t.sample_index,
      restart: 'all' as number | string,
      pc1_share: t.joint_pc1_share,
      pc2_share: t.joint_pc2_share,
      points: t.joint_pca.reduce((a, p) => a + p.steps.length, 0),
    })),
  ];

  const HEAD1 = [
    'Model, source, L, K',
    'Texts × restarts',
    'Best accuracy',
    'Solved',
    'Exact regen.',
    'Cosine, same text',
    'Cosine, different texts',
  ];
  const rows1 = summary.map((s) => [
    label(s),
    `${s.texts} × ${s.texts ? Math.round(s.restarts / s.texts) : 0}`,
    fmt(s.best_accuracy_mean),
    pct(s.solved_share),
    pct(s.exact_share),
    fmtPm(s.intra_cosine_mean, s.intra_cosine_std),
    fmtPm(s.inter_cosine_mean, s.inter_cosine_std),
  ]);
  const HEAD2 = [
    'Model, source, L, K',
    'Accuracy at the ends',
    'At the midpoint',
    'Lowest on the line',
    'Exact regen. at the midpoint',
    'End mismatches',
  ];
  const rows2 = summary.map((s) => [
    label(s),
    fmt(s.endpoint_accuracy_mean),
    fmt(s.mid_accuracy_mean),
    fmt(s.min_accuracy_mean),
    pct(s.mid_exact_share),
    String(s.endpoint_mismatches),
  ]);
  const HEAD3 = [
    'Model, source, L, K',
    'PC1',
    'PC2',
    'PC1 + PC2 (per restart)',
    'PC1 + PC2 (restarts of a text together)',
    'Left out (undefined)',
  ];
  const rows3 = summary.map((s) => [
    label(s),
    pct(s.pc1_share_mean),
    pct(s.pc2_share_mean),
    `${pct(s.pc12_share_mean)}${s.pc12_share_std !== null ? ` ± ${(100 * s.pc12_share_std).toFixed(1)}` : ''}`,
    pct(s.joint_pc12_share_mean),
    `${s.pca_left_out} restart(s), ${s.joint_pca_left_out} text(s)`,
  ]);
  const leftOut = summary.reduce((a, s) => a + s.pca_left_out, 0);
  const jointLeftOut = summary.reduce((a, s) => a + s.joint_pca_left_out, 0);
  const section = (title: string, text: string, head: string[], rows: string[][]) => ({
    title,
    markdown: `${text}\n\n${mdTable(head, rows)}`,
  });
  const waiting = new Set(restarts.map((r) => textKey(groupKey(r.model, r.source, r.length, r.n_mem), r.sample_index)));
  for (const t of texts) waiting.delete(textKey(groupKey(t.model, t.source, t.length, t.n_mem), t.sample_index));
  const notes = [...describeBadLines(input.badLines)];
  if (leftOut + jointLeftOut > 0) {
    notes.push(
      `PCA shares are undefined for trajectories of fewer than ${MIN_PCA_POINTS} points (or without variance): ${leftOut} restart(s) and ` +
        `${jointLeftOut} text(s) are left out of the PCA means (raise max_steps or lower vectors_every for longer trajectories).`,
    );
  }
  if (waiting.size > 0)
    notes.push(
      `${waiting.size} text${waiting.size > 1 ? 's have' : ' has'} restarts but no analysis yet (a restart still to run, or the run was stopped): run the same command to finish.`,
    );
  return {
    summary: [
      `Restarts: ${restarts.length} (${new Set(restarts.map((r) => `${r.model}|${r.source}|${r.sample_index}`)).size} texts); analysed texts: ${texts.length}; analysed groups: ${groups.length}`,
      `Models: ${[...new Set(records.map((r) => r.model))].join(', ')}; sources: ${[...new Set(records.map((r) => r.source))].join(', ')}`,
      `Lengths: ${[...new Set(records.map((r) => r.length))].sort((a, b) => a - b).join(', ')}; K: ${[...new Set(records.map((r) => r.n_mem))].sort((a, b) => a - b).join(', ')}`,
      `Stop reasons: ${[...restarts.reduce((m, r) => m.set(r.stop_reason, (m.get(r.stop_reason) ?? 0) + 1), new Map<string, number>())].map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`,
    ],
    notes,
    sections: [
      section(
        'Solutions of the same text and of different texts (Fig. 7)',
        'Cosine similarity of the kept vectors (all K flattened), mean ± std over pairs: restarts of the same text, and solutions of different texts. Best accuracy, solved share and exact greedy regeneration are over all restarts.',
        HEAD1,
        rows1,
      ),
      section(
        'Straight lines between restarts of a text (Fig. 8)',
        'Teacher-forced accuracy along (1 − α)·a + α·b between every pair of restarts of a text, mean over pairs and texts. "End mismatches" counts ends whose re-evaluated accuracy differs from the restart\'s kept accuracy (should be 0).',
        HEAD2,
        rows2,
      ),
      section(
        'Optimisation trajectories (PCA)',
        'Share of the variance of a trajectory (the vectors every `vectors_every` steps, from the random start to the kept solution) on its first two principal components: each restart alone (mean ± std), and all restarts of a text in one PCA (mean over texts).',
        HEAD3,
        rows3,
      ),
    ],
    tables: [
      { file: 'solution_space_summary.csv', content: toCsv(summary) },
      {
        file: 'restarts.csv',
        content: toCsv(
          restarts.map((r) =>
            Object.fromEntries(
              COLUMNS.filter((c) => c in r).map((c) => [c, (r as unknown as Record<string, unknown>)[c]]),
            ),
          ),
        ),
      },
      {
        file: 'cosines.csv',
        content: toCsv(cosRows, [
          'model',
          'source',
          'length',
          'n_mem',
          'pair',
          'text_a',
          'restart_a',
          'text_b',
          'restart_b',
          'cosine',
        ]),
      },
      { file: 'interpolation.csv', content: toCsv(interpRows) },
      { file: 'trajectory_pca.csv', content: toCsv(pcaRows) },
      { file: 'trajectory_pca_paths.csv', content: toCsv(pathRows) },
    ],
    figures: SOLUTION_SPACE_FIGURES.map((f) =>
      f.draw({
        cosines: cosRows.map((c): CosinePoint => ({ panel: panelOf(c), pair: c.pair, cosine: c.cosine })),
        interpolation: interpRows.map((r): InterpolationPoint => ({
          panel: panelOf(r),
          line: `${r.sample_index}:${r.restart_a}-${r.restart_b}`,
          alpha: r.alpha,
          accuracy: r.accuracy,
          exact: r.regenerated_exact,
        })),
        trajectories: pathRows
          .filter((p) => drawn.has(`${panelOf(p)}|${p.sample_index}`))
          .map((p): TrajectoryPoint => ({
            panel: textPanel(p),
            restart: p.restart,
            step: p.step,
            pc1: p.pc1,
            pc2: p.pc2,
          })),
        panelShares: Object.fromEntries(
          texts
            .filter((t) => t.joint_pc1_share !== null)
            .map((t) => [textPanel(t), [t.joint_pc1_share!, t.joint_pc2_share!]]),
        ),
      }),
    ),
  };
}

export const solutionSpace: ExperimentKind<Item, SolutionSpaceRecord> = {
  name: 'solution-space',
  description:
    'R random restarts per text: cosine of solutions within and across texts (Fig. 7), accuracy along the lines between restarts (Fig. 8), trajectory PCA',
  options: SOLUTION_SPACE_OPTIONS,
  recordFile: 'solution-space.jsonl',
  recordColumns: COLUMNS,
  recordKey,
  plan,
  run,
  report,
};

/**
 * `experiment: progressive`: Progressive Cramming (Tarasov et al., ICML 2026) per text, and its compression horizon
 * next to the fixed-grid capacity of the same texts.
 *
 * Per (model, source, K, text): the target is the text's first `target_length` tokens (default max(lengths)); stages
 * grow a prefix of it (linear by `step`, or doubling then bisection), warm-started across stages (vectors and AdamW
 * state); a stage passes only with exact greedy regeneration (teacher-forced accuracy 1.0 first); `stage_steps` per
 * stage, `text_steps` per text, one optimizer restart per stage before it fails (`lr_reset`). The horizon is the longest prefix of the target that greedy
 * regeneration reproduces with the kept vectors (src/cram/progressive.ts). Texts shorter than the target are left
 * out (said in the log, skipped.jsonl and the report), so no horizon is capped by its text's end; a text whose
 * horizon reaches the target is counted as such (reached_full).
 *
 * With `compare_capacity` (default), the same texts are also crammed from scratch at every grid length of `lengths`
 * with the capacity kind's pipeline and settings (`max_steps`, `patience`): capacity_samples.jsonl, the same records a
 * capacity run gives (same seeds: the progressive run starts from the same initial vectors as the grid). That costs
 * grid time, but the comparison needs no second run, cannot pair different texts, and resumes with the rest.
 *
 * Files: progressive.jsonl (one record per text: the resume log), stages.jsonl (each text's stages),
 * progressive_curves.jsonl (per-step loss, accuracy and stage length of `curves` texts per model, source and K),
 * capacity_samples.jsonl, vectors/progressive/<model>/<source>/K<k>/i<index>.safetensors (kept vectors; metadata for
 * the whole target, the horizon and passed stage in `horizon` and `passed_length`).
 */
import { z } from 'zod';
import { LIMITS, sourceSpec, type ExperimentConfig } from '../../config/schema.ts';
import { cramSettings } from '../../config/settings.ts';
import { idsSha256 } from '../../cram/vector-file.ts';
import { loadSourceTexts, sourceName } from '../../data/sources.ts';
import { capacityTable, meanStd, type CapacityRow } from '../../metrics/aggregate.ts';
import {
  horizonDistributionFigure,
  horizonVsGridFigure,
  progressiveCurvesFigure,
  progressiveStepsFigure,
  type Figure,
} from '../../report/figures/index.ts';
import { mdTable, type ReportContent } from '../../report/report.ts';
import { capacityCsv, formatMeanStd, toCsv } from '../../report/tables.ts';
import { describeBadLines } from '../../results/run-folder.ts';
import { SAMPLE_COLUMNS, type SampleRecord } from '../../results/sample-record.ts';
import type { ExperimentKind, Plan, PlanContext, ReportInput, RunContext, SkippedText, WorkItem } from '../kind.ts';
import type { ProgressiveSettings } from '../../run/model-session.ts';
import { capacity, type PlannedJob } from './capacity.ts';
import { GRID_FILE, gridKey, runGrid } from './capacity-grid.ts';
import { saveTextVectors } from '../../run/crammed-text.ts';

/** What the progressive kind's figures are drawn from. */
export interface ProgressiveFigureData {
  records: readonly ProgressiveRecord[];
  /** The fixed-grid capacity records of the same texts. */
  grid: readonly SampleRecord[];
  stages: readonly StagesLine[];
  curves: readonly ProgressiveCurve[];
}

/** Progressive cramming (experiment: progressive). */
export const PROGRESSIVE_FIGURES: readonly Figure<ProgressiveFigureData>[] = [
  { name: 'horizon_distribution', draw: (d) => horizonDistributionFigure(d.records, d.grid) },
  { name: 'horizon_vs_grid', draw: (d) => horizonVsGridFigure(d.records) },
  { name: 'progressive_steps', draw: (d) => progressiveStepsFigure(d.records) },
  { name: 'progressive_curves', draw: (d) => progressiveCurvesFigure(d.curves) },
];

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const PROGRESSIVE_OPTIONS = {
  /** Tokens (BOS counted) of each text's whole target; default the largest of `lengths`. At least that. */
  target_length: int(2, LIMITS.length).optional(),
  /** How the target grows: `linear` (+step per passed stage) or `doubling` (×2 until a stage fails, then bisection). */
  schedule: z.enum(['linear', 'doubling']).default('linear'),
  /** First stage length (tokens, BOS counted). */
  start_length: int(2, LIMITS.length).default(2),
  /** Linear: tokens added per stage. Doubling: bisection stops when the bracket is this narrow. */
  step: int(1, LIMITS.length).default(1),
  /** Forward/backward passes per stage (per attempt: a reset gives the stage as many again). */
  stage_steps: int(1, LIMITS.steps).default(500),
  /** Forward/backward passes per text over all its stages. */
  text_steps: int(1, LIMITS.steps).default(10_000),
  /** Restart the optimizer once in a stage before it counts as failed (the original's learning-rate reset). */
  lr_reset: z.boolean().default(true),
  /** Also cram the same texts from scratch at every length of `lengths` (the capacity kind's grid). */
  compare_capacity: z.boolean().default(true),
} as const;

const OptionsSchema = z.object(PROGRESSIVE_OPTIONS);
const optionsOf = (c: ExperimentConfig) => OptionsSchema.parse(c);
const targetLength = (c: ExperimentConfig) => optionsOf(c).target_length ?? Math.max(...c.lengths);

/** One finished text: a line of progressive.jsonl and a row of results.csv. */
export interface ProgressiveRecord {
  run: string;
  model: string;
  source: string;
  n_mem: number;
  sample_index: number;
  seed: number;
  schedule: 'linear' | 'doubling';
  /** Target tokens (BOS counted): target_length. */
  n_tokens: number;
  /** Longest prefix of the target (tokens, BOS counted) greedy regeneration reproduces from the kept vectors. */
  horizon: number;
  /** Longest stage passed (greedy-exact); 1 when none. */
  passed_length: number;
  /** Shortest stage that failed (its budget ran out); null when none failed. */
  failed_length: number | null;
  /** The whole target was reproduced. */
  reached_full: boolean;
  stages: number;
  stages_passed: number;
  /** Forward/backward passes over all stages. */
  steps: number;
  lr_resets: number;
  /** Stages where teacher-forced accuracy 1.0 was not confirmed by greedy regeneration (should be 0). */
  greedy_rejections: number;
  stop_reason: 'full_length' | 'stage_failed' | 'text_budget' | 'diverged';
  /** No-vector teacher-forced accuracy over the whole target. */
  original_accuracy: number;
  /** No-vector cross-entropy of the horizon prefix's horizon−1 predictions, summed (nats): what the vectors encode. */
  original_ce_horizon: number;
  /** Largest grid length at which the same text, crammed from scratch, reached teacher-forced accuracy 1.0 (0: none; null: no grid). */
  grid_solved_max: number | null;
  /** Largest grid length at which it was regenerated exactly (0: none; null: no grid). */
  grid_exact_max: number | null;
  seconds: number;
  embed_dim: number;
  embedding_rows: number;
  /** SHA-256 of the target ids. */
  ids_sha256: string;
  vector_file: string;
}

export const PROGRESSIVE_COLUMNS: (keyof ProgressiveRecord)[] = [
  'run',
  'model',
  'source',
  'n_mem',
  'sample_index',
  'seed',
  'schedule',
  'n_tokens',
  'horizon',
  'passed_length',
  'failed_length',
  'reached_full',
  'stages',
  'stages_passed',
  'steps',
  'lr_resets',
  'greedy_rejections',
  'stop_reason',
  'original_accuracy',
  'original_ce_horizon',
  'grid_solved_max',
  'grid_exact_max',
  'seconds',
  'embed_dim',
  'embedding_rows',
  'ids_sha256',
  'vector_file',
];

/** stages.jsonl: one line per text. */
export interface StagesLine {
  model: string;
  source: string;
  n_mem: number;
  sample_index: number;
  stages: {
    length: number;
    steps: number;
    outcome: string;
    reset: boolean;
    best_accuracy: number;
    greedy_rejections: number;
  }[];
}

/** progressive_curves.jsonl: per step of a recorded text. */
export interface ProgressiveCurve {
  model: string;
  source: string;
  n_mem: number;
  sample_index: number;
  loss: number[];
  accuracy: number[];
  /** Stage length at each step. */
  length: number[];
}

interface ProgressiveItem extends WorkItem {
  model: string;
  source: string;
  sampleIndex: number;
  nMem: number;
  ids: number[];
  seed: string;
  recordCurve: boolean;
  grid: PlannedJob[];
}

export function progressiveKey(model: string, source: string, nMem: number, index: number): string {
  return `${model}|${source}|K${nMem}|i${index}`;
}

// ---------------------------------------------------------------- planning

function plan(ctx: PlanContext): Plan<ProgressiveItem> {
  const { config, model, tokenizer } = ctx;
  const o = optionsOf(config);
  const target = targetLength(config);
  const maxK = Math.max(...config.n_mem);
  if (target < Math.max(...config.lengths))
    throw new Error(
      `target_length: ${target} is shorter than the largest of lengths (${Math.max(...config.lengths)}); the grid compares prefixes of the target`,
    );
  if (o.start_length > target)
    throw new Error(`start_length: ${o.start_length} is longer than the target (the largest of lengths, ${target})`);
  if (target + maxK > model.maxPositions) {
    throw new Error(
      `the target (target_length, default the largest of lengths) = ${target} tokens with K = ${maxK} vectors needs ${target + maxK} positions, but ${model.name} takes ${model.maxPositions} (${model.positionsFrom})`,
    );
  }
  for (const s of config.sources) {
    if (sourceSpec(s).kind === 'random-words')
      throw new Error(
        'sources: progressive grows prefixes of one long text; random-words texts have their own short lengths (use gutenberg-* or file sources)',
      );
  }
  const grid = o.compare_capacity ? capacity.plan(ctx).items : [];
  const items: ProgressiveItem[] = [];
  const skipped: SkippedText[] = [];
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    const source = sourceName(spec);
    const texts = loadSourceTexts(spec, tokenizer, {
      count: config.samples,
      maxLength: target,
      seed: config.seed,
      onProgress: (done, total) => ctx.progress(`${model.name}: tokenizing ${source}, ${done}/${total} texts`),
    });
    const long = texts.filter((t) => t.ids.length >= target);
    if (long.length === 0)
      throw new Error(
        `target_length: no text of ${source} has ${target} tokens (the target; default the largest of lengths); lower it or use longer texts`,
      );
    for (const t of texts)
      if (t.ids.length < target)
        skipped.push({ model: model.name, source, length: target, sample_index: t.index, n_tokens: t.ids.length });
    for (const nMem of config.n_mem) {
      for (const t of long) {
        items.push({
          key: progressiveKey(model.name, source, nMem, t.index),
          positions: nMem + target,
          model: model.name,
          source,
          sampleIndex: t.index,
          nMem,
          ids: t.ids.slice(0, target),
          seed: `${config.seed}|${source}|${t.index}|K${nMem}`,
          recordCurve: t.index < config.curves,
          grid: grid.filter((j) => j.source === source && j.nMem === nMem && j.sampleIndex === t.index),
        });
      }
    }
  }
  return { items, skipped };
}

// ---------------------------------------------------------------- running

export function progressiveSettings(config: ExperimentConfig): ProgressiveSettings {
  const o = optionsOf(config);
  const { optimizer, maxBatch, maxBatchTokens } = cramSettings(config);
  return {
    optimizer,
    schedule: o.schedule,
    startLength: o.start_length,
    step: o.step,
    stageSteps: o.stage_steps,
    maxSteps: o.text_steps,
    lrReset: o.lr_reset,
    maxBatch,
    maxBatchTokens,
  };
}

const largest = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

async function run(ctx: RunContext<ProgressiveRecord>, todo: ProgressiveItem[]): Promise<void> {
  const { config, session } = ctx;
  const o = optionsOf(config);
  // 1. The fixed grid for these texts (skipped for grid texts already done).
  const grid = o.compare_capacity
    ? await runGrid(
        ctx as RunContext<object>,
        todo.flatMap((it) => it.grid),
      )
    : new Map<string, SampleRecord>();
  if (ctx.shouldStop()) return;
  // 2. Progressive cramming, every text at its own stage length.
  const byKey = new Map(todo.map((it) => [it.key, it]));
  await session.progressive(
    todo.map((it) => ({ key: it.key, ids: it.ids, nMem: it.nMem, seed: it.seed, recordTrajectory: it.recordCurve })),
    progressiveSettings(config),
    {
      shouldStop: ctx.shouldStop,
      onStep: (p) =>
        ctx.progress({
          accuracy: p.meanAccuracy,
          active: p.active,
          detail: `${session.name} progressive, mean stage ${p.meanStage.toFixed(1)} tokens`,
        }),
      onFinish: (out) => {
        const it = byKey.get(out.key)!;
        const base = { model: it.model, source: it.source, n_mem: it.nMem, sample_index: it.sampleIndex };
        let vectorFile = '';
        if (config.save_vectors) {
          vectorFile = `vectors/progressive/${it.model}/${it.source.replace(/[^\w.-]+/g, '_')}/K${it.nMem}/i${it.sampleIndex}.safetensors`;
          saveTextVectors(ctx.file(vectorFile), session, out.memory, out.nMem, it.ids, {
            run: config.name,
            source: it.source,
            sample_index: it.sampleIndex,
            schedule: o.schedule,
            horizon: out.horizon,
            passed_length: out.passedLength,
          });
        }
        const gridRecords = it.grid.map((j) => grid.get(j.key)).filter((r): r is SampleRecord => r !== undefined);
        const stages: StagesLine = {
          ...base,
          stages: out.stages.map((s) => ({
            length: s.length,
            steps: s.steps,
            outcome: s.outcome,
            reset: s.reset,
            best_accuracy: s.bestAccuracy,
            greedy_rejections: s.greedyRejections,
          })),
        };
        ctx.append('stages.jsonl', stages);
        if (out.trajectory)
          ctx.append('progressive_curves.jsonl', { ...base, ...out.trajectory } satisfies ProgressiveCurve);
        ctx.record({
          run: config.name,
          ...base,
          seed: config.seed,
          schedule: o.schedule,
          n_tokens: out.nTokens,
          horizon: out.horizon,
          passed_length: out.passedLength,
          failed_length: out.failedLength,
          reached_full: out.horizon >= out.nTokens,
          stages: out.stages.length,
          stages_passed: out.stages.filter((s) => s.outcome === 'passed').length,
          steps: out.steps,
          lr_resets: out.lrResets,
          greedy_rejections: out.stages.reduce((a, s) => a + s.greedyRejections, 0),
          stop_reason: out.stopReason,
          original_accuracy: out.originalAccuracy,
          original_ce_horizon: out.originalTokenCe.slice(0, Math.max(0, out.horizon - 1)).reduce((a, b) => a + b, 0),
          grid_solved_max: o.compare_capacity
            ? largest(gridRecords.filter((r) => r.best_accuracy === 1).map((r) => r.length))
            : null,
          grid_exact_max: o.compare_capacity
            ? largest(gridRecords.filter((r) => r.regenerated_exact).map((r) => r.length))
            : null,
          seconds: out.seconds,
          embed_dim: out.embedDim,
          embedding_rows: session.numEmbeddings,
          ids_sha256: idsSha256(it.ids),
          vector_file: vectorFile,
        });
      },
    },
  );
}

// ---------------------------------------------------------------- report

export interface HorizonRow {
  model: string;
  source: string;
  n_mem: number;
  texts: number;
  horizon_mean: number | null;
  horizon_std: number | null;
  horizon_median: number | null;
  horizon_min: number | null;
  horizon_max: number | null;
  passed_length_mean: number | null;
  reached_full: number;
  steps_mean: number | null;
  steps_std: number | null;
  /** Passes per passed stage (the warm start's price per token of horizon). */
  steps_per_passed_stage: number | null;
  texts_with_lr_reset: number;
  /** Paper's capacity of the grid (largest length with mean best accuracy ≥ 0.99 over these texts); null: none or no grid. */
  grid_capacity: number | null;
  /** Mean over texts of the largest grid length crammed from scratch with exact regeneration. */
  grid_exact_max_mean: number | null;
  /** Mean of horizon − grid_exact_max over texts. */
  horizon_minus_grid_exact_mean: number | null;
  target_tokens: number;
}

const median = (xs: number[]) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export function horizonTable(records: readonly ProgressiveRecord[], grid: readonly SampleRecord[]): HorizonRow[] {
  const groups = new Map<string, ProgressiveRecord[]>();
  for (const r of records) {
    const k = `${r.model}\u0000${r.source}\u0000${r.n_mem}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const caps = new Map<string, CapacityRow>(
    capacityTable([...grid]).map((c) => [`${c.model}\u0000${c.source}\u0000${c.n_mem}`, c]),
  );
  const rows: HorizonRow[] = [];
  for (const [k, rs] of groups) {
    const h = rs.map((r) => r.horizon);
    const hs = meanStd(h);
    const st = meanStd(rs.map((r) => r.steps));
    const passedStages = rs.reduce((a, r) => a + r.stages_passed, 0);
    const withGrid = rs.filter((r) => r.grid_exact_max !== null);
    rows.push({
      model: rs[0].model,
      source: rs[0].source,
      n_mem: rs[0].n_mem,
      texts: rs.length,
      horizon_mean: hs.mean,
      horizon_std: hs.std,
      horizon_median: median(h),
      horizon_min: Math.min(...h),
      horizon_max: Math.max(...h),
      passed_length_mean: meanStd(rs.map((r) => r.passed_length)).mean,
      reached_full: rs.filter((r) => r.reached_full).length,
      steps_mean: st.mean,
      steps_std: st.std,
      steps_per_passed_stage: passedStages > 0 ? rs.reduce((a, r) => a + r.steps, 0) / passedStages : null,
      texts_with_lr_reset: rs.filter((r) => r.lr_resets > 0).length,
      grid_capacity: caps.get(k)?.capacity ?? null,
      grid_exact_max_mean: withGrid.length ? meanStd(withGrid.map((r) => r.grid_exact_max!)).mean : null,
      horizon_minus_grid_exact_mean: withGrid.length
        ? meanStd(withGrid.map((r) => r.horizon - r.grid_exact_max!)).mean
        : null,
      target_tokens: Math.max(...rs.map((r) => r.n_tokens)),
    });
  }
  return rows.sort((a, b) => a.model.localeCompare(b.model) || a.source.localeCompare(b.source) || a.n_mem - b.n_mem);
}

const f1 = (v: number | null) => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(1));
const HEAD = [
  'Model',
  'Source',
  'K',
  'Texts',
  'Horizon, tokens',
  'Median (min–max)',
  'Full target',
  'Steps per text',
  'Steps per passed stage',
  'Texts with a reset',
  'Grid capacity (mean acc ≥ 0.99)',
  'Grid exact, per text',
  'Horizon − grid exact',
];
const row = (r: HorizonRow) => [
  r.model,
  r.source,
  String(r.n_mem),
  String(r.texts),
  formatMeanStd(r.horizon_mean, r.horizon_std),
  `${f1(r.horizon_median)} (${r.horizon_min}–${r.horizon_max})`,
  `${r.reached_full} of ${r.texts} (${r.target_tokens} tokens)`,
  formatMeanStd(r.steps_mean, r.steps_std, 0),
  f1(r.steps_per_passed_stage),
  String(r.texts_with_lr_reset),
  r.grid_capacity === null ? '–' : String(r.grid_capacity),
  f1(r.grid_exact_max_mean),
  f1(r.horizon_minus_grid_exact_mean),
];

/** Last line per text wins (a line appended again after a kill). */
function lastPerText<T extends { model: string; source: string; n_mem: number; sample_index: number }>(
  lines: T[],
): T[] {
  const m = new Map<string, T>();
  for (const l of lines) m.set(progressiveKey(l.model, l.source, l.n_mem, l.sample_index), l);
  return [...m.values()];
}

export function progressiveReport(input: ReportInput<ProgressiveRecord>): ReportContent {
  const { records } = input;
  const grid = lastPerGrid(input.readJsonl<SampleRecord>(GRID_FILE));
  const stages = lastPerText(input.readJsonl<StagesLine>('stages.jsonl'));
  const curves = lastPerText(input.readJsonl<ProgressiveCurve>('progressive_curves.jsonl'));
  const table = horizonTable(records, grid);
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const stops = new Map<string, number>();
  for (const r of records) stops.set(r.stop_reason, (stops.get(r.stop_reason) ?? 0) + 1);
  const summary = [
    `Texts: ${records.length} (model × source × K × text)`,
    `Models: ${uniq(records.map((r) => r.model)).join(', ') || '–'}; sources: ${uniq(records.map((r) => r.source)).join(', ') || '–'}; K: ${
      uniq(records.map((r) => r.n_mem))
        .sort((a, b) => a - b)
        .join(', ') || '–'
    }`,
    `Schedule: ${uniq(records.map((r) => r.schedule)).join(', ') || '–'}; target: ${uniq(records.map((r) => r.n_tokens)).join(', ')} tokens (BOS counted)`,
    `Stop reasons: ${[...stops].map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`,
    `Greedy regeneration rejected teacher-forced accuracy 1.0 in ${records.reduce((a, r) => a + r.greedy_rejections, 0)} stage check(s)`,
    `Fixed grid (capacity kind, same texts): ${grid.length} texts crammed${
      grid.length
        ? ` at lengths ${uniq(grid.map((r) => r.length))
            .sort((a, b) => a - b)
            .join(', ')}`
        : ''
    }`,
  ];
  const notes: string[] = [];
  if (input.skipped.length > 0) {
    notes.push(
      `Texts shorter than the target are left out (their horizon would be capped by their end): ${input.skipped
        .map((s) => `${s.source} #${s.sample_index} (${s.n_tokens} tokens)`)
        .slice(0, 10)
        .join(', ')}${input.skipped.length > 10 ? ', …' : ''}.`,
    );
  }
  notes.push(...describeBadLines(input.badLines));
  const explain =
    'Horizon: longest prefix of the target (tokens, BOS counted) that greedy regeneration from the kept vectors reproduces, mean ± std over texts. ' +
    "Grid capacity: the paper's capacity of the same texts crammed from scratch at each grid length (largest length with mean best accuracy ≥ 0.99). " +
    'Grid exact, per text: the largest grid length at which the text was regenerated exactly from scratch, mean over texts.';
  const data: ProgressiveFigureData = { records, grid, stages, curves };
  return {
    summary,
    notes,
    sections: [{ title: 'Compression horizons', markdown: `${explain}\n\n${mdTable(HEAD, table.map(row))}` }],
    tables: [
      { file: 'horizons.csv', content: toCsv(table) },
      { file: 'grid_capacity.csv', content: capacityCsv(capacityTable(grid)) },
      { file: 'grid_results.csv', content: toCsv(grid, SAMPLE_COLUMNS) },
    ],
    figures: PROGRESSIVE_FIGURES.map((fig) => fig.draw(data)),
  };
}

function lastPerGrid(lines: SampleRecord[]): SampleRecord[] {
  const m = new Map<string, SampleRecord>();
  for (const l of lines) m.set(gridKey(l), l);
  return [...m.values()];
}

export const progressive: ExperimentKind<ProgressiveItem, ProgressiveRecord> = {
  name: 'progressive',
  description:
    'Progressive Cramming (Tarasov et al., 2026): per text, growing targets with warm starts and exact-regeneration stages; compression horizons next to the fixed-grid capacity of the same texts',
  options: PROGRESSIVE_OPTIONS,
  recordFile: 'progressive.jsonl',
  recordColumns: PROGRESSIVE_COLUMNS,
  recordKey: (r) => progressiveKey(r.model, r.source, r.n_mem, r.sample_index),
  plan,
  run,
  report: progressiveReport,
};

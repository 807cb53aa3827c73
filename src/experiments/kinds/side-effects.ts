/**
 * `experiment: side-effects` (Progressive Cramming: a crammed vector wrecks the model's other predictions). M held-out
 * texts unrelated to the crammed ones are read by the model with, in front of them:
 *   (a) nothing — the plain model;
 *   (b) the K vectors crammed for another text (each donor text of the config's sources, lengths and n_mem);
 *   (c) K random vectors with the norms of (b)'s vectors, row by row (seeded per donor and length);
 *   (d) the mean token embedding, K times.
 * Loss (mean CE over each text's N − 1 predictions) and teacher-forced accuracy per (condition, donor, text).
 *
 * Donors are the first `samples` texts of each source; the evaluation texts are the `eval_texts` texts of `eval_source`
 * that follow them (indices samples … samples + M − 1 when it is a donor source, else 0 … M − 1), cut to `eval_length`.
 *
 * Work items and records (side-effects.jsonl): `donor` (one donor crammed, then (b) and (c) on every evaluation text;
 * its vectors in vectors/), `reference` (condition none, and mean_embedding per K). Per-text values are arrays in the
 * record, in the order of `eval_indices`; side_effects_samples.csv spreads them one row per (condition, donor, text).
 */
import { z } from 'zod';
import { SourceSchema, sourceSpec, type ExperimentConfig } from '../../config/schema.ts';
import { cramSettings } from '../../config/settings.ts';
import { seededNormal } from '../../cram/init.ts';
import { loadSourceTexts, sourceName } from '../../data/sources.ts';
import { sideEffectsFigure, type Figure } from '../../report/figures/index.ts';
import type { SideEffectsPoint } from '../../report/figures/side-effects.ts';
import { mdTable, type ReportContent } from '../../report/report.ts';
import { toCsv } from '../../report/tables.ts';
import { describeBadLines } from '../../results/run-folder.ts';
import type { ExperimentKind, Plan, PlanContext, ReportInput, RunContext, WorkItem } from '../kind.ts';
import {
  batchLimits,
  evaluateRows,
  fileSafe,
  fmt,
  mean,
  norm,
  pct,
  planStudyTexts,
  sig,
  std,
  type StudyText,
} from './study-common.ts';
import { saveTextVectors } from '../../run/crammed-text.ts';

/** `experiment: side-effects`. */
export const SIDE_EFFECTS_FIGURES: readonly Figure<{ samples: readonly SideEffectsPoint[] }>[] = [
  { name: 'side_effects', draw: (d) => sideEffectsFigure(d.samples) },
];

export const SIDE_EFFECTS_OPTIONS = {
  /** M: held-out texts read with each prefix. */
  eval_texts: z.number().int().min(1).max(100_000).default(32),
  /** Their length in tokens (BOS counted). */
  eval_length: z.number().int().min(2).max(1_000_000).default(64),
  /** Where they come from (default the held-out books; after the donors when it is one of the donor sources). */
  eval_source: SourceSchema.default('gutenberg-heldout'),
};
type Config = ExperimentConfig & { eval_texts: number; eval_length: number; eval_source: z.infer<typeof SourceSchema> };

export const CONDITIONS = ['none', 'crammed', 'random_same_norm', 'mean_embedding'] as const;
export type Condition = (typeof CONDITIONS)[number];
export const CONDITION_LABELS: Record<Condition, string> = {
  none: '(a) nothing',
  crammed: '(b) vector crammed for another text',
  random_same_norm: '(c) random, same norm',
  mean_embedding: '(d) mean token embedding',
};

/** K random vectors with the row norms of `like` ([K·d]), from a named seed. */
export function randomSameNorm(like: Float32Array, nMem: number, seed: string): Float32Array {
  const d = like.length / nMem;
  const out = seededNormal(like.length, seed);
  for (let k = 0; k < nMem; k++) {
    const target = norm(like.subarray(k * d, (k + 1) * d));
    const have = norm(out.subarray(k * d, (k + 1) * d));
    for (let j = k * d; j < (k + 1) * d; j++) out[j] = (out[j] / have) * target;
  }
  return out;
}

// ---------------------------------------------------------------- records

interface Common {
  run: string;
  model: string;
  n_mem: number;
  eval_source: string;
  eval_length: number;
  /** Source indices of the evaluation texts, in the order of the per-text arrays. */
  eval_indices: number[];
  /** Per evaluation text, without any prefix (the same in every record). */
  baseline_loss: number[];
  baseline_accuracy: number[];
}

export interface DonorRecord extends Common {
  record: 'donor';
  /** The donor text. */
  source: string;
  length: number;
  sample_index: number;
  n_tokens: number;
  best_accuracy: number;
  best_loss: number;
  steps: number;
  stop_reason: string;
  regenerated_exact: boolean | null;
  /** L2 norm of the crammed vectors (all K). */
  vector_norm: number;
  vector_file: string;
  crammed_loss: number[];
  crammed_accuracy: number[];
  random_loss: number[];
  random_accuracy: number[];
  crammed_loss_mean: number;
  crammed_accuracy_mean: number;
  random_loss_mean: number;
  random_accuracy_mean: number;
  seconds: number;
}

export interface ReferenceRecord extends Common {
  record: 'reference';
  condition: 'none' | 'mean_embedding';
  /** Norm of the prefix (0 for none). */
  vector_norm: number;
  loss: number[];
  accuracy: number[];
  loss_mean: number;
  accuracy_mean: number;
}

export type SideEffectsRecord = DonorRecord | ReferenceRecord;

const COLUMNS = [
  'record',
  'condition',
  'run',
  'model',
  'n_mem',
  'source',
  'length',
  'sample_index',
  'n_tokens',
  'best_accuracy',
  'best_loss',
  'steps',
  'stop_reason',
  'regenerated_exact',
  'vector_norm',
  'eval_source',
  'eval_length',
  'crammed_loss_mean',
  'crammed_accuracy_mean',
  'random_loss_mean',
  'random_accuracy_mean',
  'loss_mean',
  'accuracy_mean',
  'vector_file',
  'seconds',
] as const;

const donorKey = (model: string, source: string, length: number, nMem: number, index: number) =>
  `${model}|donor|${source}|L${length}|K${nMem}|i${index}`;
const referenceKey = (model: string, condition: string, nMem: number) => `${model}|${condition}|K${nMem}`;
const recordKey = (r: SideEffectsRecord) =>
  r.record === 'donor'
    ? donorKey(r.model, r.source, r.length, r.n_mem, r.sample_index)
    : referenceKey(r.model, r.condition, r.n_mem);

// ---------------------------------------------------------------- planning

interface EvalSet {
  source: string;
  length: number;
  indices: number[];
  ids: number[][];
}
interface DonorItem extends WorkItem {
  type: 'donor';
  text: StudyText;
  model: string;
  nMem: number;
  ids: number[];
  seed: string;
  evalSet: EvalSet;
}
interface ReferenceItem extends WorkItem {
  type: 'reference';
  condition: 'none' | 'mean_embedding';
  model: string;
  nMem: number;
  evalSet: EvalSet;
}
type Item = DonorItem | ReferenceItem;

function plan(ctx: PlanContext): Plan<Item> {
  const config = ctx.config as Config;
  const model = ctx.model.name;
  const { texts, skipped } = planStudyTexts(ctx, { kind: 'side-effects' });
  const spec = sourceSpec(config.eval_source);
  const evalName = sourceName(spec);
  if (spec.kind === 'random-words')
    throw new Error('eval_source: use natural texts (a Gutenberg source or a file) for the unrelated texts');
  const donorSources = new Set(config.sources.map((s) => sourceName(sourceSpec(s))));
  const offset = donorSources.has(evalName) ? config.samples : 0;
  const maxK = Math.max(...config.n_mem);
  if (config.eval_length + maxK > ctx.model.maxPositions)
    throw new Error(
      `eval_length: ${config.eval_length} tokens with K = ${maxK} vectors needs ${config.eval_length + maxK} positions, but ${model} takes ${ctx.model.maxPositions}`,
    );
  let all;
  try {
    all = loadSourceTexts(spec, ctx.tokenizer, {
      count: offset + config.eval_texts,
      maxLength: config.eval_length,
      seed: config.seed,
    });
  } catch (e) {
    throw new Error(
      `eval_texts: ${config.eval_texts} texts of ${evalName}${offset ? ` after the ${offset} donor texts` : ''}: ${(e as Error).message}`,
    );
  }
  const chosen = all.slice(offset);
  const short = chosen.filter((t) => t.ids.length < config.eval_length);
  if (short.length)
    throw new Error(
      `eval_length: ${short.length} of the evaluation texts of ${evalName} are shorter than ${config.eval_length} tokens (e.g. #${short[0].index}, ${short[0].ids.length}); lower eval_length`,
    );
  const evalSet: EvalSet = {
    source: evalName,
    length: config.eval_length,
    indices: chosen.map((t) => t.index),
    ids: chosen.map((t) => t.ids),
  };
  const items: Item[] = [];
  items.push({
    type: 'reference',
    condition: 'none',
    key: referenceKey(model, 'none', 0),
    positions: config.eval_length,
    model,
    nMem: 0,
    evalSet,
  });
  for (const nMem of config.n_mem) {
    items.push({
      type: 'reference',
      condition: 'mean_embedding',
      key: referenceKey(model, 'mean_embedding', nMem),
      positions: nMem + config.eval_length,
      model,
      nMem,
      evalSet,
    });
    for (const t of texts) {
      items.push({
        type: 'donor',
        key: donorKey(model, t.source, t.length, nMem, t.index),
        positions: nMem + Math.max(t.ids.length, config.eval_length),
        text: t,
        model,
        nMem,
        ids: t.ids,
        seed: `${config.seed}|${t.source}|${t.index}|K${nMem}`,
        evalSet,
      });
    }
  }
  return { items, skipped };
}

// ---------------------------------------------------------------- running

async function run(ctx: RunContext<SideEffectsRecord>, todo: Item[]): Promise<void> {
  const config = ctx.config as Config;
  const { session } = ctx;
  const limits = batchLimits(config);
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
      const vf = `vectors/${it.model}/${fileSafe(t.source)}/K${o.nMem}/L${t.length}-i${t.index}.safetensors`;
      if (config.save_vectors) {
        saveTextVectors(ctx.file(vf), session, o.memory, o.nMem, t.ids, {
          run: config.name,
          source: t.source,
          length: t.length,
          sample_index: t.index,
        });
      }
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
        vector_file: config.save_vectors ? vf : '',
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

// ---------------------------------------------------------------- report

export interface SideEffectsSample {
  model: string;
  n_mem: number;
  condition: Condition;
  /** The donor text (conditions crammed and random_same_norm). */
  donor_source: string;
  donor_length: number | null;
  donor_index: number | null;
  eval_index: number;
  loss: number;
  accuracy: number;
  baseline_loss: number;
  baseline_accuracy: number;
  delta_loss: number;
  delta_accuracy: number;
}

/** One row per (condition, donor, evaluation text). The `none` rows are repeated for every K, so each K's table is whole. */
export function sideEffectsSamples(records: readonly SideEffectsRecord[]): SideEffectsSample[] {
  const out: SideEffectsSample[] = [];
  const ks = [
    ...new Set(records.filter((r) => !(r.record === 'reference' && r.condition === 'none')).map((r) => r.n_mem)),
  ].sort((a, b) => a - b);
  const push = (
    r: SideEffectsRecord,
    nMem: number,
    condition: Condition,
    loss: number[],
    acc: number[],
    donor: DonorRecord | null,
  ) => {
    r.eval_indices.forEach((idx, i) =>
      out.push({
        model: r.model,
        n_mem: nMem,
        condition,
        donor_source: donor?.source ?? '',
        donor_length: donor?.length ?? null,
        donor_index: donor?.sample_index ?? null,
        eval_index: idx,
        loss: loss[i],
        accuracy: acc[i],
        baseline_loss: r.baseline_loss[i],
        baseline_accuracy: r.baseline_accuracy[i],
        delta_loss: loss[i] - r.baseline_loss[i],
        delta_accuracy: acc[i] - r.baseline_accuracy[i],
      }),
    );
  };
  for (const r of records) {
    if (r.record === 'reference' && r.condition === 'none')
      for (const k of ks.length ? ks : [0]) push(r, k, 'none', r.loss, r.accuracy, null);
    else if (r.record === 'reference') push(r, r.n_mem, 'mean_embedding', r.loss, r.accuracy, null);
    else {
      push(r, r.n_mem, 'crammed', r.crammed_loss, r.crammed_accuracy, r);
      push(r, r.n_mem, 'random_same_norm', r.random_loss, r.random_accuracy, r);
    }
  }
  return out;
}

export interface SideEffectsRow {
  model: string;
  n_mem: number;
  condition: Condition;
  /** Length of the donor texts (conditions crammed and random_same_norm; null otherwise). */
  donor_length: number | null;
  label: string;
  /** Mean best accuracy of those donors (how well their vectors hold their own text). */
  donor_best_accuracy_mean: number | null;
  /** Prefixes behind the condition (donors for b and c, 1 otherwise) and evaluation texts. */
  prefixes: number;
  texts: number;
  loss_mean: number;
  loss_std: number;
  accuracy_mean: number;
  accuracy_std: number;
  delta_loss_mean: number;
  delta_loss_std: number;
  delta_accuracy_mean: number;
  /** Share of (prefix, text) pairs whose loss went up. */
  loss_up_share: number;
  /** Mean norm of the prefix vectors (all K). */
  prefix_norm_mean: number;
}

export function sideEffectsTable(records: readonly SideEffectsRecord[]): SideEffectsRow[] {
  const samples = sideEffectsSamples(records);
  const rows: SideEffectsRow[] = [];
  const keys = [...new Set(samples.map((s) => `${s.model}|${s.n_mem}`))];
  for (const key of keys) {
    for (const c of CONDITIONS) {
      const all = samples.filter((s) => `${s.model}|${s.n_mem}` === key && s.condition === c);
      if (all.length === 0) continue;
      const [model, k] = [all[0].model, all[0].n_mem];
      // Crammed and random prefixes: one row per donor length (at, beyond or below the model's capacity).
      const lengths = [...new Set(all.map((s) => s.donor_length))].sort((a, b) => (a ?? 0) - (b ?? 0));
      for (const length of lengths) {
        const ss = all.filter((s) => s.donor_length === length);
        const donors = records.filter(
          (r): r is DonorRecord => r.record === 'donor' && r.model === model && r.n_mem === k && r.length === length,
        );
        const norms =
          c === 'none'
            ? [0]
            : c === 'mean_embedding'
              ? records
                  .filter(
                    (r) =>
                      r.record === 'reference' &&
                      r.condition === 'mean_embedding' &&
                      r.model === model &&
                      r.n_mem === k,
                  )
                  .map((r) => r.vector_norm)
              : donors.map((r) => r.vector_norm);
        rows.push({
          model,
          n_mem: k,
          condition: c,
          donor_length: length,
          label: CONDITION_LABELS[c] + (length === null ? '' : `, donors of ${length} tokens`),
          prefixes: length === null ? 1 : donors.length,
          texts: new Set(ss.map((s) => s.eval_index)).size,
          donor_best_accuracy_mean: length === null ? null : mean(donors.map((r) => r.best_accuracy)),
          loss_mean: mean(ss.map((s) => s.loss)),
          loss_std: std(ss.map((s) => s.loss)),
          accuracy_mean: mean(ss.map((s) => s.accuracy)),
          accuracy_std: std(ss.map((s) => s.accuracy)),
          delta_loss_mean: mean(ss.map((s) => s.delta_loss)),
          delta_loss_std: std(ss.map((s) => s.delta_loss)),
          delta_accuracy_mean: mean(ss.map((s) => s.delta_accuracy)),
          loss_up_share: mean(ss.map((s) => (s.delta_loss > 0 ? 1 : 0))),
          prefix_norm_mean: mean(norms),
        });
      }
    }
  }
  return rows.sort((a, b) => a.model.localeCompare(b.model) || a.n_mem - b.n_mem);
}

function report(input: ReportInput<SideEffectsRecord>): ReportContent {
  const { records } = input;
  const table = sideEffectsTable(records);
  const donors = records.filter((r): r is DonorRecord => r.record === 'donor');
  const HEAD = [
    'Model, K',
    'In front of the text',
    "Donors' own accuracy",
    'Prefixes × texts',
    'Loss (mean ± std)',
    'Δ loss vs nothing',
    'Loss went up',
    'Accuracy (mean ± std)',
    'Δ accuracy',
    'Prefix norm',
  ];
  const rows = table.map((r) => [
    `${r.model}, K = ${r.n_mem}`,
    r.label,
    fmt(r.donor_best_accuracy_mean),
    `${r.prefixes} × ${r.texts}`,
    `${fmt(r.loss_mean)} ± ${fmt(r.loss_std)}`,
    `${r.delta_loss_mean >= 0 ? '+' : ''}${fmt(r.delta_loss_mean)} ± ${fmt(r.delta_loss_std)}`,
    pct(r.loss_up_share),
    `${fmt(r.accuracy_mean)} ± ${fmt(r.accuracy_std)}`,
    `${r.delta_accuracy_mean >= 0 ? '+' : ''}${fmt(r.delta_accuracy_mean)}`,
    fmt(r.prefix_norm_mean, 2),
  ]);
  const text =
    'Mean loss (nats per token) and teacher-forced accuracy of unrelated held-out texts with each prefix in front, over every (prefix, text) pair; Δ: against the same text with nothing in front. "Loss went up": share of pairs whose loss rose.';
  const first = records[0];
  const donorLine = donors.length
    ? `Donors: ${donors.length} crammed (mean best accuracy ${fmt(mean(donors.map((d) => d.best_accuracy)))}, solved ${pct(mean(donors.map((d) => (d.best_accuracy === 1 ? 1 : 0))))}), from ${[...new Set(donors.map((d) => d.source))].join(', ')} at L = ${[...new Set(donors.map((d) => d.length))].join(', ')}`
    : 'Donors: none crammed yet';
  return {
    summary: [
      `Models: ${[...new Set(records.map((r) => r.model))].join(', ')}; K: ${[...new Set(donors.map((r) => r.n_mem))].sort((a, b) => a - b).join(', ') || '–'}`,
      donorLine,
      first
        ? `Evaluation texts: ${first.eval_indices.length} of ${first.eval_source} (indices ${first.eval_indices[0]}…${first.eval_indices[first.eval_indices.length - 1]}), ${first.eval_length} tokens each`
        : 'Evaluation texts: –',
    ],
    notes: describeBadLines(input.badLines),
    sections: [{ title: 'What a prefix does to other texts', markdown: `${text}\n\n${mdTable(HEAD, rows)}` }],
    tables: [
      { file: 'side_effects_summary.csv', content: toCsv(table) },
      { file: 'side_effects_samples.csv', content: toCsv(sideEffectsSamples(records)) },
    ],
    figures: SIDE_EFFECTS_FIGURES.map((f) => f.draw({ samples: sideEffectsSamples(records) })),
  };
}

export const sideEffects: ExperimentKind<Item, SideEffectsRecord> = {
  name: 'side-effects',
  description:
    'loss and accuracy of unrelated held-out texts with nothing, a vector crammed for another text, a random vector of the same norm, or the mean token embedding in front',
  options: SIDE_EFFECTS_OPTIONS,
  recordFile: 'side-effects.jsonl',
  recordColumns: COLUMNS,
  recordKey,
  plan,
  run,
  report,
};

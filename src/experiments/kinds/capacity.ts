/**
 * `experiment: capacity` (the default): the paper's capacity sweep. For every (model, source, length, K, text) cram the
 * text into K vectors and record the outcome (src/results/sample-record.ts). Natural texts are the same at every
 * length (shorter lengths are prefixes); a text shorter than a length is not a sample there (left out, and said so);
 * random-word texts carry their own sampled length.
 *
 * Report: Table 1, capacity per model/source/K, the Figure-3 fit, and the figures in CAPACITY_FIGURES.
 * `crammedText` (src/run/crammed-text.ts) is the per-text pipeline (outcome → regeneration → vector file → record
 * fields), shared with `cram run`.
 */
import { join } from 'node:path';
import { sourceSpec } from '../../config/schema.ts';
import { cramSettings } from '../../config/settings.ts';
import { loadSourceTexts, sourceName } from '../../data/sources.ts';
import {
  accuracyByLength,
  capacityTable,
  ceThresholdFits,
  countedRecords,
  type CapacityRow,
  type CeThresholdRow,
} from '../../metrics/aggregate.ts';
import {
  accuracyVsLengthFigure,
  capacityByModelFigure,
  ceScatterFigure,
  curvesFigure,
  utilizationFigure,
  vectorsScalingFigure,
  modelOrder,
  sourceOrder,
  type Figure,
} from '../../report/figures/index.ts';
import { mdTable, writeReport, type ReportContent, type ReportMeta, type ReportResult } from '../../report/report.ts';
import {
  accuracyCsv,
  capacityCsv,
  ceFitCsv,
  csvFromRows,
  formatMeanStd,
  table1,
  table1CsvRows,
  table1Markdown,
} from '../../report/tables.ts';
import { describeBadLines, type BadLine } from '../../results/run-folder.ts';
import { SAMPLE_COLUMNS, type CurveRecord, type SampleRecord } from '../../results/sample-record.ts';
import type { ExperimentKind, Plan, PlanContext, ReportInput, RunContext, SkippedText, WorkItem } from '../kind.ts';
import { crammedText } from '../../run/crammed-text.ts';
import type { CramJob } from '../../run/model-session.ts';

/** What the capacity figures are drawn from: the run's records and its recorded optimisation curves. */
export interface CapacityFigureData {
  records: readonly SampleRecord[];
  curves: readonly CurveRecord[];
}

/** The capacity sweep's figures (paper Figs. 1, 3, 4, 5 and the optimisation curves), in report order. */
export const CAPACITY_FIGURES: readonly Figure<CapacityFigureData>[] = [
  { name: 'accuracy_vs_length', draw: (d) => accuracyVsLengthFigure(d.records) },
  { name: 'ce_compressed_vs_original', draw: (d) => ceScatterFigure(d.records) },
  { name: 'capacity_vs_vectors', draw: (d) => vectorsScalingFigure(d.records) },
  { name: 'theoretical_vs_achieved', draw: (d) => utilizationFigure(d.records) },
  { name: 'optimization_curves', draw: (d) => curvesFigure(d.curves, d.records) },
];

/** Added when several runs are compared (`cram compare`). */
export const COMPARISON_FIGURES: readonly Figure<CapacityFigureData>[] = [
  { name: 'capacity_vs_model', draw: (d) => capacityByModelFigure(d.records) },
];

export interface PlannedJob extends CramJob, WorkItem {
  model: string;
  source: string;
  length: number;
  sampleIndex: number;
  recordCurve: boolean;
}

/** Key of one (model, source, length, K, text): what resuming skips. */
export function jobKey(model: string, source: string, length: number, nMem: number, index: number): string {
  return `${model}|${source}|L${length}|K${nMem}|i${index}`;
}

// ---------------------------------------------------------------- planning

function plan(ctx: PlanContext): Plan<PlannedJob> {
  const { config, model, tokenizer } = ctx;
  const maxLength = Math.max(...config.lengths);
  const maxK = Math.max(...config.n_mem);
  const positionsError = (what: string, tokens: number) =>
    new Error(
      `${what} = ${tokens} tokens with K = ${maxK} vectors needs ${tokens + maxK} positions, ` +
        `but ${model.name} takes ${model.maxPositions} (${model.positionsFrom}); lower it or the largest n_mem`,
    );
  const jobs: PlannedJob[] = [];
  const skipped: SkippedText[] = [];
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    const source = sourceName(spec);
    const random = spec.kind === 'random-words';
    const randomMax = config.random_max_length ?? maxLength;
    if (random && randomMax + maxK > model.maxPositions) throw positionsError('random_max_length', randomMax);
    if (!random && maxLength + maxK > model.maxPositions) throw positionsError('the longest of lengths', maxLength);
    const texts = loadSourceTexts(spec, tokenizer, {
      count: random ? (config.random_samples ?? config.samples) : config.samples,
      maxLength: random ? randomMax : maxLength,
      seed: config.seed,
      onProgress: (done, total) => ctx.progress(`${model.name}: tokenizing ${source}, ${done}/${total} texts`),
    });
    if (!random) {
      for (const length of config.lengths) {
        if (!texts.some((t) => t.ids.length >= length)) {
          const longest = Math.max(...texts.map((t) => t.ids.length));
          throw new Error(
            `lengths: ${length} is longer than every text of ${source} (the longest has ${longest} tokens with the ${model.name} ` +
              `tokenizer); no text could be a sample at that length, so drop it (or use longer texts)`,
          );
        }
      }
    }
    for (const nMem of config.n_mem) {
      for (const t of texts) {
        const lengths = random ? [t.length ?? t.ids.length] : config.lengths;
        for (const length of lengths) {
          if (!random && t.ids.length < length) {
            // Too short to be a sample at this length: cramming it would credit tokens it does not have.
            if (nMem === config.n_mem[0])
              skipped.push({ model: model.name, source, length, sample_index: t.index, n_tokens: t.ids.length });
            continue;
          }
          const ids = t.ids.slice(0, length);
          if (ids.length < 2) continue;
          jobs.push({
            key: jobKey(model.name, source, length, nMem, t.index),
            ids,
            nMem,
            model: model.name,
            source,
            length,
            sampleIndex: t.index,
            positions: nMem + ids.length,
            // The same start for a text at every length: prefixes are directly comparable.
            seed: `${config.seed}|${source}|${t.index}|K${nMem}`,
            recordCurve: t.index < config.curves,
          });
        }
      }
    }
  }
  // Similar lengths side by side, so a batch wastes little on padding.
  jobs.sort((a, b) => a.nMem - b.nMem || a.ids.length - b.ids.length || a.key.localeCompare(b.key));
  return { items: jobs, skipped };
}

async function run(ctx: RunContext<SampleRecord>, todo: PlannedJob[]): Promise<void> {
  const { config, session } = ctx;
  const byKey = new Map<string, PlannedJob>(todo.map((j) => [j.key, j]));
  await session.cram(todo, cramSettings(config, { recordTrajectory: todo.some((j) => j.recordCurve) }), {
    shouldStop: ctx.shouldStop,
    onStep: (p) =>
      ctx.progress({
        accuracy: p.meanAccuracy,
        active: p.active,
        detail: `${session.name} K=${todo[0]?.nMem ?? '-'}…`,
      }),
    onFinish: async (o) => {
      const job = byKey.get(o.key)!;
      const vectorFile = join(
        'vectors',
        job.model,
        job.source.replace(/[^\w.-]+/g, '_'),
        `K${o.nMem}`,
        `L${job.length}-i${job.sampleIndex}.safetensors`,
      );
      const t = await crammedText(session, o, job.ids, {
        regenerate: config.regenerate,
        vectorPath: config.save_vectors ? ctx.file(vectorFile) : null,
        extra: { run: config.name, source: job.source, length: job.length, sample_index: job.sampleIndex },
      });
      const f = t.fields;
      ctx.record({
        run: config.name,
        model: job.model,
        source: job.source,
        length: job.length,
        n_tokens: f.n_tokens,
        n_mem: f.n_mem,
        sample_index: job.sampleIndex,
        seed: config.seed,
        original_loss: f.original_loss,
        original_accuracy: f.original_accuracy,
        best_loss: f.best_loss,
        best_accuracy: f.best_accuracy,
        loss_at_best_accuracy: f.loss_at_best_accuracy,
        original_ce: f.original_ce,
        compressed_ce: f.compressed_ce,
        info_gain_nats: f.info_gain_nats,
        info_gain_bits: f.info_gain_bits,
        token_gain: f.token_gain,
        steps: f.steps,
        best_step: f.best_step,
        stop_reason: f.stop_reason,
        regenerated_exact: f.regenerated_exact,
        regenerated_prefix_tokens: f.regenerated_prefix_tokens,
        seconds: f.seconds,
        embed_dim: f.embed_dim,
        embedding_rows: f.embedding_rows,
        ids_sha256: f.ids_sha256,
        vector_file: config.save_vectors ? vectorFile : '',
      });
      if (job.recordCurve && o.trajectory) {
        const curve: CurveRecord = {
          model: job.model,
          source: job.source,
          length: job.length,
          n_mem: o.nMem,
          sample_index: job.sampleIndex,
          ...o.trajectory,
        };
        ctx.append('curves.jsonl', curve);
      }
    },
  });
}

// ---------------------------------------------------------------- report

const fmtNum = (v: number | null, digits = 1) => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const fmtPct = (v: number | null) => (v === null || !Number.isFinite(v) ? '–' : `${(100 * v).toFixed(1)} %`);

const CAP_HEAD = [
  'Model',
  'Source',
  'K',
  'Capacity, tokens',
  'Theoretical, tokens',
  'Token gain',
  'Info gain, nats',
  'Utilization',
  'Saturated / texts',
  'Exact regen.',
];
function capRow(r: CapacityRow): string[] {
  return [
    r.model,
    r.source,
    String(r.n_mem),
    r.capacity === null ? '–' : String(r.capacity),
    fmtNum(r.theoretical_capacity, 0),
    formatMeanStd(r.token_gain_mean, r.token_gain_std),
    formatMeanStd(r.info_gain_nats_mean, r.info_gain_nats_std),
    fmtPct(r.utilization),
    `${r.n_saturated} / ${r.n_samples}`,
    fmtPct(r.exact_rate),
  ];
}

const FIT_HEAD = [
  'Model',
  'Source',
  'K',
  'C_H = −b, nats',
  'Fit RMSE, nats',
  'Texts fitted (acc < 0.99)',
  'Red line, nats',
  'Lossless texts',
];
function fitRow(r: CeThresholdRow): string[] {
  return [
    r.model,
    r.source,
    String(r.n_mem),
    fmtNum(r.c_h),
    fmtNum(r.rmse),
    String(r.n_fit),
    fmtNum(r.red_line),
    String(r.n_lossless),
  ];
}

/** What the records cover, one line each. */
function summary(records: readonly SampleRecord[]): string[] {
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const lines: string[] = [];
  lines.push(`Texts crammed: ${records.length}`);
  lines.push(`Runs: ${uniq(records.map((r) => r.run)).join(', ') || '–'}`);
  lines.push(
    `Models: ${
      modelOrder(records)
        .map((m) => {
          const r = records.find((x) => x.model === m)!;
          return `${m} (d = ${r.embed_dim}, V = ${r.embedding_rows})`;
        })
        .join('; ') || '–'
    }`,
  );
  lines.push(`Sources: ${sourceOrder(records).join(', ') || '–'}`);
  for (const s of sourceOrder(records)) {
    const ls = uniq(records.filter((r) => r.source === s).map((r) => r.length)).sort((a, b) => a - b);
    const shown = ls.length > 12 ? `${ls.length} distinct lengths, ${ls[0]}–${ls[ls.length - 1]}` : ls.join(', ');
    lines.push(`Lengths (${s}), tokens: ${shown}`);
  }
  lines.push(
    `Number of [mem] vectors K: ${
      uniq(records.map((r) => r.n_mem))
        .sort((a, b) => a - b)
        .join(', ') || '–'
    }`,
  );
  const stops = new Map<string, number>();
  for (const r of records) stops.set(r.stop_reason, (stops.get(r.stop_reason) ?? 0) + 1);
  lines.push(`Stop reasons: ${[...stops].map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`);
  lines.push(
    `Exact greedy regeneration: ${records.filter((r) => r.regenerated_exact).length} of ${records.length} texts`,
  );
  return lines;
}

function shortTextNotes(records: readonly SampleRecord[], skipped: readonly SkippedText[]): string[] {
  const notes: string[] = [];
  if (skipped.length > 0) {
    const by = new Map<string, SkippedText[]>();
    for (const s of skipped)
      by.set(`${s.model} / ${s.source} at L = ${s.length}`, [
        ...(by.get(`${s.model} / ${s.source} at L = ${s.length}`) ?? []),
        s,
      ]);
    notes.push(
      `Texts shorter than a grid length are not samples at that length and were not crammed there: ${[...by]
        .map(
          ([k, ss]) =>
            `${k}: ${ss.length} text${ss.length > 1 ? 's' : ''} (${ss
              .slice(0, 5)
              .map((s) => `#${s.sample_index}, ${s.n_tokens} tokens`)
              .join('; ')}${ss.length > 5 ? '; …' : ''})`,
        )
        .join('; ')}.`,
    );
  }
  const excluded = records.length - countedRecords(records).length;
  if (excluded > 0) {
    notes.push(
      `${excluded} record${excluded > 1 ? 's' : ''} crammed a text shorter than ${excluded > 1 ? 'their' : 'its'} grid length (n_tokens < length; made before such texts were skipped): left out of every statistic, table and figure.`,
    );
  }
  return notes;
}

export interface CapacityReportInput {
  records: SampleRecord[];
  curves?: CurveRecord[];
  skipped?: SkippedText[];
  badLines?: BadLine[];
  /** Figures after CAPACITY_FIGURES (e.g. the comparison's capacity per model). */
  extraFigures?: readonly Figure<CapacityFigureData>[];
  /** An extra paragraph under "What was run". */
  note?: string;
}

export function capacityReport(input: CapacityReportInput): ReportContent {
  const { records, curves = [] } = input;
  const cap = capacityTable(records);
  const fits = ceThresholdFits(records);
  const t1 = table1(records, cap);
  const data: CapacityFigureData = { records, curves };
  return {
    summary: summary(records),
    notes: [
      ...(input.note ? [input.note] : []),
      ...shortTextNotes(records, input.skipped ?? []),
      ...describeBadLines(input.badLines ?? []),
    ],
    sections: [
      {
        title: 'Table 1',
        markdown:
          'Max: largest tested length whose mean best accuracy is ≥ 0.99. Gains: mean ± sample std over texts with best accuracy ≤ 0.99, pooled over all lengths (information gain in nats).\n\n' +
          table1Markdown(t1),
      },
      {
        title: 'Capacity per model, source and K',
        markdown:
          'Theoretical capacity: K·d·16/log2(V) tokens (Eq. 1). Utilization: mean token gain / theoretical capacity.\n\n' +
          mdTable(CAP_HEAD, cap.map(capRow)),
      },
      { title: 'Cross-entropy threshold (Fig. 3 fit)', markdown: mdTable(FIT_HEAD, fits.map(fitRow)) },
    ],
    tables: [
      { file: 'capacity.csv', content: capacityCsv(cap) },
      { file: 'accuracy_by_length.csv', content: accuracyCsv(accuracyByLength(records)) },
      { file: 'ce_fit.csv', content: ceFitCsv(fits) },
      { file: 'table1.csv', content: csvFromRows(table1CsvRows(t1)) },
      { file: 'table1.md', content: table1Markdown(t1) },
    ],
    figures: [...CAPACITY_FIGURES, ...(input.extraFigures ?? [])].map((f) => f.draw(data)),
  };
}

/** The capacity report from records alone (tests, comparisons): tables, figures, report.md/html in `dir`. */
export function writeCapacityReport(dir: string, input: CapacityReportInput & ReportMeta): Promise<ReportResult> {
  return writeReport(dir, capacityReport(input), input);
}

export const capacity: ExperimentKind<PlannedJob, SampleRecord> = {
  name: 'capacity',
  description:
    "the paper's capacity sweep: every (model, source, length, K, text) crammed once; Table 1 and Figs. 1, 3, 4, 5",
  options: {},
  recordFile: 'samples.jsonl',
  recordColumns: SAMPLE_COLUMNS,
  recordKey: (r) => jobKey(r.model, r.source, r.length, r.n_mem, r.sample_index),
  plan,
  run,
  report: (input: ReportInput<SampleRecord>) =>
    capacityReport({
      records: input.records,
      curves: input.readJsonl<CurveRecord>('curves.jsonl'),
      skipped: input.skipped,
      badLines: input.badLines,
    }),
};

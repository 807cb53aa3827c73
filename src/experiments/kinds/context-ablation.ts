/**
 * `experiment: context-ablation` (paper §4.7): is what a crammed vector gives the model just "context"? For every text
 * (the second half of a chunk's sentences, as crammed everywhere else), the model reads P tokens of the real text
 * before it (the end of the chunk's first half) in place of the vectors, P from `context_tokens`; next to it, the same
 * text crammed into K vectors (each K of `n_mem`). The paper: even 1024 real tokens barely lower the loss, one vector
 * removes almost all of it.
 *
 * Input with context: [BOS, c_1 … c_P, t_2 … t_N] where t_1 … t_N are the crammed ids (t_1 = BOS) and c the last P
 * tokens of the first half (tokenized with the separator that follows it in the chunk, without BOS). Scored: the
 * predictions of t_2 … t_N only — the same N − 1 predictions as the crammed text and its no-vector baseline, which
 * P = 0 reproduces exactly. (The official notebook drops BOS and does not score t_2; the bundled models always saw BOS
 * first in training, so it is kept here.) Loss is read from the per-token cross-entropies of the text part; accuracy
 * is the correct count of the whole input minus that of [BOS, c] alone, evaluated in the same batch (causal attention:
 * the context's own predictions do not depend on what follows).
 *
 * Records (context-ablation.jsonl), one per (text, condition): `context` rows (P, tokens actually available, loss,
 * accuracy) and `vectors` rows (the crammed text's best loss and accuracy, as the paper reports them).
 */
import { z } from 'zod';
import { type ExperimentConfig } from '../../config/schema.ts';
import { cramSettings } from '../../config/settings.ts';
import { readChunks } from '../../data/natural-text.ts';
import { sentenceSpans, splitSentences } from '../../data/sentences.ts';
import { BUNDLED_CHUNKS, type SourceSpec } from '../../data/sources.ts';
import { contextAblationFigure, type Figure } from '../../report/figures/index.ts';
import type { ContextAblationPoint } from '../../report/figures/context-ablation.ts';
import { mdTable, type ReportContent } from '../../report/report.ts';
import { toCsv } from '../../report/tables.ts';
import { describeBadLines } from '../../results/run-folder.ts';
import type { TextTokenizer } from '../../tokenizer/text-tokenizer.ts';
import type { ExperimentKind, Plan, PlanContext, ReportInput, RunContext, WorkItem } from '../kind.ts';
import {
  batchLimits,
  chunkRows,
  fileSafe,
  fmt,
  mean,
  pct,
  planStudyTexts,
  std,
  type StudyText,
} from './study-common.ts';
import { saveTextVectors } from '../../run/crammed-text.ts';

/** `experiment: context-ablation` (paper §4.7). */
export const CONTEXT_ABLATION_FIGURES: readonly Figure<{ rows: readonly ContextAblationPoint[] }>[] = [
  { name: 'context_ablation', draw: (d) => contextAblationFigure(d.rows) },
];

export const CONTEXT_ABLATION_OPTIONS = {
  /** Numbers P of real preceding tokens put before the text in place of the vectors (0: the no-vector baseline). */
  context_tokens: z
    .array(z.number().int().min(0).max(1_000_000))
    .min(1)
    .default([0, 16, 32, 64, 128, 512])
    .superRefine((xs, ctx) => {
      if (new Set(xs).size !== xs.length)
        ctx.addIssue({
          code: 'custom',
          message: 'a context length listed twice: its records would be made twice under one key',
        });
    }),
};
type Config = ExperimentConfig & { context_tokens: number[] };

// ---------------------------------------------------------------- the text before the crammed text

/**
 * The part of a chunk before its crammed second half, with the separator that follows it: the first half of the
 * sentences joined by single spaces plus one space (whitespace-normalised, as the paper), or the chunk's own text up to
 * the second half's first sentence (keep_newlines: its line breaks kept).
 */
export function precedingText(chunk: { text: string; text_lines?: string }, keepNewlines: boolean): string {
  if (keepNewlines) {
    const text = chunk.text_lines ?? '';
    const spans = sentenceSpans(text);
    if (spans.length < 2) return '';
    return text.slice(spans[0][0], spans[Math.floor(spans.length / 2)][0]);
  }
  const sentences = splitSentences(chunk.text);
  const first = sentences.slice(0, Math.floor(sentences.length / 2));
  return first.length ? `${first.join(' ')} ` : '';
}

/** The token ids of the preceding text, its BOS dropped. */
export function precedingIds(tokenizer: TextTokenizer, preceding: string): number[] {
  if (preceding === '') return [];
  const ids = tokenizer.encode(preceding);
  return tokenizer.bosId !== null && ids[0] === tokenizer.bosId ? ids.slice(1) : ids;
}

/** The last `p` token ids of the preceding text (its BOS dropped). */
export function contextIds(tokenizer: TextTokenizer, preceding: string, p: number): number[] {
  return p === 0 ? [] : lastIds(precedingIds(tokenizer, preceding), p);
}

const lastIds = (ids: number[], p: number) => (p === 0 ? [] : ids.slice(Math.max(0, ids.length - p)));

/** The model's input with context: [BOS or t_1, context, t_2 … t_N]. */
export function withContext(ids: readonly number[], context: readonly number[]): number[] {
  return [ids[0], ...context, ...ids.slice(1)];
}

// ---------------------------------------------------------------- records

export interface ContextAblationRecord {
  condition: 'context' | 'vectors';
  run: string;
  model: string;
  source: string;
  length: number;
  n_tokens: number;
  sample_index: number;
  /** Context tokens asked for (context rows; 0 for vectors rows). */
  context_tokens: number;
  /** Context tokens the chunk had (≤ context_tokens; fewer when its first half is shorter). */
  n_context: number;
  /** Vectors (vectors rows; 0 for context rows). */
  n_mem: number;
  /** Mean CE over the text's N − 1 predictions (vectors rows: the lowest over the steps, the paper's best_loss). */
  loss: number;
  /** Teacher-forced accuracy over the same predictions (vectors rows: the best over the steps). */
  accuracy: number;
  /** The same text without context or vectors. */
  original_loss: number;
  original_accuracy: number;
  /** Vectors rows: loss of the kept vectors, steps, stop reason, exact greedy regeneration, vector file. */
  loss_at_best_accuracy: number | null;
  steps: number | null;
  stop_reason: string;
  regenerated_exact: boolean | null;
  vector_file: string;
  seconds: number;
}

const COLUMNS = [
  'condition',
  'run',
  'model',
  'source',
  'length',
  'n_tokens',
  'sample_index',
  'context_tokens',
  'n_context',
  'n_mem',
  'loss',
  'accuracy',
  'original_loss',
  'original_accuracy',
  'loss_at_best_accuracy',
  'steps',
  'stop_reason',
  'regenerated_exact',
  'vector_file',
  'seconds',
] as const;

const base = (model: string, source: string, length: number, index: number) =>
  `${model}|${source}|L${length}|i${index}`;
const recordKey = (r: ContextAblationRecord) =>
  `${base(r.model, r.source, r.length, r.sample_index)}|${r.condition === 'context' ? `P${r.context_tokens}` : `K${r.n_mem}`}`;

// ---------------------------------------------------------------- planning

interface ContextItem extends WorkItem {
  type: 'context';
  text: StudyText;
  model: string;
  p: number;
  context: number[];
}
interface VectorsItem extends WorkItem {
  type: 'vectors';
  text: StudyText;
  model: string;
  nMem: number;
  ids: number[];
  seed: string;
}
type Item = ContextItem | VectorsItem;

function chunkFile(spec: SourceSpec): string {
  if (spec.kind !== 'gutenberg-heldout' && spec.kind !== 'gutenberg-seen') {
    throw new Error(
      `sources: context-ablation needs the text before each crammed text, which only the Gutenberg chunk sources have (got a "${spec.kind}" source)`,
    );
  }
  return spec.path ?? BUNDLED_CHUNKS[spec.kind];
}

function plan(ctx: PlanContext): Plan<Item> {
  const config = ctx.config as Config;
  const maxP = Math.max(...config.context_tokens);
  const maxL = Math.max(...config.lengths);
  if (maxP + maxL > ctx.model.maxPositions) {
    throw new Error(
      `context_tokens: ${maxP} tokens before a text of ${maxL} needs ${maxP + maxL} positions, but ${ctx.model.name} takes ${ctx.model.maxPositions} (${ctx.model.positionsFrom}); lower the largest context`,
    );
  }
  const { texts, skipped } = planStudyTexts(ctx, { kind: 'context-ablation' });
  const model = ctx.model.name;
  const preceding = new Map<string, string[]>();
  const tokenized = new Map<string, number[]>();
  const items: Item[] = [];
  for (const t of texts) {
    const file = chunkFile(t.spec);
    if (!preceding.has(t.source)) {
      const chunks = readChunks(file, t.spec.encoding);
      preceding.set(
        t.source,
        chunks.slice(0, config.samples).map((c) => precedingText(c, t.spec.keep_newlines ?? false)),
      );
    }
    // Tokenized once per text (the lengths share it), cut per P.
    const key = `${t.source}|${t.index}`;
    if (!tokenized.has(key)) {
      tokenized.set(key, precedingIds(ctx.tokenizer, preceding.get(t.source)![t.index]));
      ctx.progress(`${model}: tokenizing the text before ${t.source} #${t.index}`);
    }
    const before = tokenized.get(key)!;
    for (const p of config.context_tokens) {
      const context = lastIds(before, p);
      items.push({
        type: 'context',
        key: `${base(model, t.source, t.length, t.index)}|P${p}`,
        positions: t.ids.length + context.length,
        text: t,
        model,
        p,
        context,
      });
    }
    for (const nMem of config.n_mem) {
      items.push({
        type: 'vectors',
        key: `${base(model, t.source, t.length, t.index)}|K${nMem}`,
        positions: nMem + t.ids.length,
        text: t,
        model,
        nMem,
        ids: t.ids,
        // The capacity sweep's seed for this text: the same start, so the same solution.
        seed: `${config.seed}|${t.source}|${t.index}|K${nMem}`,
      });
    }
  }
  items.sort((a, b) => (a.type === b.type ? a.positions - b.positions : a.type === 'context' ? -1 : 1));
  return { items, skipped };
}

// ---------------------------------------------------------------- running

async function run(ctx: RunContext<ContextAblationRecord>, todo: Item[]): Promise<void> {
  const config = ctx.config as Config;
  const { session } = ctx;
  const contexts = todo.filter((i): i is ContextItem => i.type === 'context');
  const vectors = todo.filter((i): i is VectorsItem => i.type === 'vectors');
  const limits = batchLimits(config);
  // Three rows per item (input with context, the context alone, the text alone), always in one engine call.
  for (const chunk of chunkRows(contexts, (it) => 3 * it.positions, {
    maxTexts: Math.max(1, Math.floor(limits.maxTexts / 3)),
    maxTokens: limits.maxTokens,
  })) {
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
        vector_file: config.save_vectors ? vf : '',
        seconds: o.seconds,
      });
    },
  });
}

// ---------------------------------------------------------------- report

export interface ContextAblationRow {
  model: string;
  source: string;
  length: number;
  /** "context" or "vectors". */
  condition: string;
  /** P (context rows) or K (vectors rows). */
  amount: number;
  label: string;
  texts: number;
  /** Texts whose chunk had fewer than P tokens before the text. */
  short_contexts: number;
  loss_mean: number;
  loss_std: number;
  accuracy_mean: number;
  accuracy_std: number;
  original_loss_mean: number;
  original_accuracy_mean: number;
  /** Mean over texts of (original loss − loss) / original loss. */
  loss_removed_share: number;
  exact_share: number | null;
}

export function contextAblationTable(records: readonly ContextAblationRecord[]): ContextAblationRow[] {
  const groups = new Map<string, ContextAblationRecord[]>();
  for (const r of records) {
    const k = `${r.model}|${r.source}|${r.length}|${r.condition}|${r.condition === 'context' ? r.context_tokens : r.n_mem}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const rows = [...groups.values()].map((rs): ContextAblationRow => {
    const f = rs[0];
    const amount = f.condition === 'context' ? f.context_tokens : f.n_mem;
    const checked = rs.filter((r) => r.regenerated_exact !== null);
    return {
      model: f.model,
      source: f.source,
      length: f.length,
      condition: f.condition,
      amount,
      label:
        f.condition === 'context'
          ? amount === 0
            ? 'no context'
            : `${amount} context tokens`
          : `${amount} vector${amount > 1 ? 's' : ''}`,
      texts: rs.length,
      short_contexts: rs.filter((r) => r.condition === 'context' && r.n_context < r.context_tokens).length,
      loss_mean: mean(rs.map((r) => r.loss)),
      loss_std: std(rs.map((r) => r.loss)),
      accuracy_mean: mean(rs.map((r) => r.accuracy)),
      accuracy_std: std(rs.map((r) => r.accuracy)),
      original_loss_mean: mean(rs.map((r) => r.original_loss)),
      original_accuracy_mean: mean(rs.map((r) => r.original_accuracy)),
      loss_removed_share: mean(rs.map((r) => (r.original_loss - r.loss) / r.original_loss)),
      exact_share:
        f.condition === 'vectors' && checked.length ? mean(checked.map((r) => (r.regenerated_exact ? 1 : 0))) : null,
    };
  });
  return rows.sort(
    (a, b) =>
      a.model.localeCompare(b.model) ||
      a.source.localeCompare(b.source) ||
      a.length - b.length ||
      (a.condition === b.condition ? a.amount - b.amount : a.condition === 'context' ? -1 : 1),
  );
}

function report(input: ReportInput<ContextAblationRecord>): ReportContent {
  const { records } = input;
  const table = contextAblationTable(records);
  const HEAD = [
    'Model, source, L',
    'In front of the text',
    'Texts',
    'Loss (mean ± std)',
    'Accuracy (mean ± std)',
    'Loss removed',
    'Exact regen.',
  ];
  const rows = table.map((r) => [
    `${r.model}, ${r.source}, L = ${r.length}`,
    r.label + (r.short_contexts ? ` (${r.short_contexts} shorter)` : ''),
    String(r.texts),
    `${fmt(r.loss_mean)} ± ${fmt(r.loss_std)}`,
    `${fmt(r.accuracy_mean)} ± ${fmt(r.accuracy_std)}`,
    pct(r.loss_removed_share),
    pct(r.exact_share),
  ]);
  // The paper's layout: one line per (model, source, L), "loss / accuracy" per condition.
  const conds = [...new Map(table.map((r) => [`${r.condition}|${r.amount}`, r])).values()].sort((a, b) =>
    a.condition === b.condition ? a.amount - b.amount : a.condition === 'context' ? -1 : 1,
  );
  const lines = [...new Set(table.map((r) => `${r.model}, ${r.source}, L = ${r.length}`))];
  const WIDE_HEAD = [
    'Model, source, L',
    ...conds.map((c) => (c.condition === 'context' ? (c.amount === 0 ? 'no context' : `+${c.amount}`) : c.label)),
  ];
  const wide = lines.map((l) => [
    l,
    ...conds.map((c) => {
      const r = table.find(
        (x) => `${x.model}, ${x.source}, L = ${x.length}` === l && x.condition === c.condition && x.amount === c.amount,
      );
      return r ? `${fmt(r.loss_mean)} / ${fmt(r.accuracy_mean)}` : '–';
    }),
  ]);
  const text =
    "Loss (nats per token) and teacher-forced accuracy over the crammed text's N − 1 predictions, with P tokens of the real preceding text in front of it, or crammed into K vectors (best loss and best accuracy over the steps, as the paper reports them). Loss removed: mean over texts of (no-context loss − loss) / no-context loss.";
  const short = table.filter((r) => r.short_contexts > 0);
  return {
    summary: [
      `Texts: ${new Set(records.map((r) => `${r.model}|${r.source}|${r.length}|${r.sample_index}`)).size}; context rows: ${records.filter((r) => r.condition === 'context').length}; crammed rows: ${records.filter((r) => r.condition === 'vectors').length}`,
      `Models: ${[...new Set(records.map((r) => r.model))].join(', ')}; sources: ${[...new Set(records.map((r) => r.source))].join(', ')}; lengths: ${[...new Set(records.map((r) => r.length))].sort((a, b) => a - b).join(', ')}`,
      `Context tokens: ${[...new Set(records.filter((r) => r.condition === 'context').map((r) => r.context_tokens))].sort((a, b) => a - b).join(', ') || '–'}; K: ${[...new Set(records.filter((r) => r.condition === 'vectors').map((r) => r.n_mem))].sort((a, b) => a - b).join(', ') || '–'}`,
    ],
    notes: [
      ...(short.length
        ? [
            `Some chunks have fewer tokens before the text than asked for: ${short.map((r) => `${r.model}/${r.source}/L = ${r.length}, ${r.amount} tokens: ${r.short_contexts} text(s)`).join('; ')} (they get all they have; n_context in the records).`,
          ]
        : []),
      ...describeBadLines(input.badLines),
    ],
    sections: [
      {
        title: 'Real preceding text vs crammed vectors (paper §4.7)',
        markdown: `${text}\n\n${mdTable(WIDE_HEAD, wide)}\n\nLoss / accuracy per condition.\n\n${mdTable(HEAD, rows)}`,
      },
    ],
    tables: [{ file: 'context_ablation.csv', content: toCsv(table) }],
    figures: CONTEXT_ABLATION_FIGURES.map((f) => f.draw({ rows: table })),
  };
}

export const contextAblation: ExperimentKind<Item, ContextAblationRecord> = {
  name: 'context-ablation',
  description:
    'paper §4.7: loss and accuracy of a text with P tokens of its real preceding text in front, next to the same text crammed into K vectors',
  options: CONTEXT_ABLATION_OPTIONS,
  recordFile: 'context-ablation.jsonl',
  recordColumns: COLUMNS,
  recordKey,
  plan,
  run,
  report,
};

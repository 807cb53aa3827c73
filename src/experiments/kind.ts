/**
 * An experiment kind: a small object that says what work a config plans, what one record holds (a zod schema: its
 * type, its CSV columns, its validation when read back), and what its report adds. The harness (src/run/harness.ts)
 * does everything else, once for every kind: validation, the run folder and its lock, the resolved config, sessions,
 * resuming by record key, signals, progress and the report at the end.
 *
 * A new kind is a folder kinds/<kind>/ (index.ts, options.ts, records.ts, plan.ts, run.ts, report.ts, figures/) plus
 * one line in kinds/index.ts (docs/kinds.md). A work item need not be one text crammed once (R restarts of a text are
 * R items; an evaluation without cramming is an item too); a kind may write extra JSONL files next to its records
 * (`append`), each with its own schema in records.ts, and other files (`file`).
 */
import { z } from 'zod';
import type { ExperimentConfig } from '../config/schema.ts';
import type { ReportContent } from '../report/report.ts';
import type { BadLine, JsonlReader } from '../results/run-folder.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
import type { ModelInfo } from '../run/model-info.ts';
import type { ModelSession } from '../run/model-session.ts';

/** One unit of work. Its key is the key of the record it produces: a record with that key means "done". */
export interface WorkItem {
  key: string;
  /** The most positions (vectors + tokens) one forward pass of this item needs; checked against the model first. */
  positions: number;
  /**
   * Expected cost, relative to the kind's other items, for splitting a run over shards (shards.ts). Optional: the
   * default is positions × max_steps.
   */
  cost?: number;
}

/** A text left out at a length because it is shorter than it (skipped.jsonl; said in the log and the report). */
export const SkippedTextSchema = z.object({
  model: z.string(),
  source: z.string(),
  length: z.number(),
  sample_index: z.number(),
  n_tokens: z.number(),
});
export type SkippedText = z.infer<typeof SkippedTextSchema>;

export interface PlanContext {
  config: ExperimentConfig;
  model: ModelInfo;
  tokenizer: TextTokenizer;
  /** Progress while planning (tokenizing many texts): one short line, throttled. */
  progress(detail: string): void;
}

export interface Plan<Item extends WorkItem> {
  items: Item[];
  skipped: SkippedText[];
}

export interface RunContext<Rec extends object> {
  config: ExperimentConfig;
  /** The loaded model; the only way to the tensor engine. */
  session: ModelSession;
  /** Appends one finished record to the kind's record file, flushed to disk, and counts it as done. */
  record(r: Rec): void;
  /** Appends one line to another JSONL file of the run (e.g. curves.jsonl). */
  append(file: string, line: object): void;
  /** Absolute path of a file in the run folder, its parent folders created (e.g. for vector files). */
  file(relative: string): string;
  /** True once the run should stop (a signal, or a test's stopAfter): stop after the current step. */
  shouldStop(): boolean;
  /** Progress of the running batch. */
  progress(p: { accuracy: number; active: number; detail: string }): void;
}

/** What a kind's report is made from: its records, any other JSONL file of the run, and what was left out. */
export interface ReportInput<Rec extends object> {
  /** The valid records of the record file (over the run folder and its shards, first of each key). */
  records: Rec[];
  /** Lines of another JSONL file of the run (and its shards) valid by `schema`; the others go to badLines. */
  readJsonl: JsonlReader;
  skipped: SkippedText[];
  /**
   * Lines of the run's files that were skipped: torn or damaged, or JSON that is not a valid record (`reason` names the
   * field). The report says how many and where (describeBadLines).
   */
  badLines: BadLine[];
}

export interface ExperimentKind<Item extends WorkItem = WorkItem, Rec extends object = object> {
  /** The value of `experiment:` in a config. */
  readonly name: string;
  /** One line for `cram kinds` and the README. */
  readonly description: string;
  /** Config fields this kind adds to the common ones (src/config/schema.ts); {} for none. */
  readonly options: z.ZodRawShape;
  /** The JSONL file of finished records in the run folder: the resume log. */
  readonly recordFile: string;
  /**
   * The schema of one line of recordFile (records.ts): the record's type, the columns of results.csv (its keys, in
   * order; columnsOf), and the validation of every line read back (resume, report, status, view): an invalid line is
   * skipped and reported like a torn one, and its item is done again on resume.
   */
  readonly record: z.ZodType<Rec>;
  /** The key of a finished, validated record (equal to the key of the item that made it). */
  recordKey(r: Rec): string;
  /** Plans one model's work, before the engine starts; throws (naming the field) when the config cannot work. */
  plan(ctx: PlanContext): Plan<Item>;
  /** Does the items not done yet on one loaded model, emitting records through ctx.record. */
  run(ctx: RunContext<Rec>, todo: Item[]): Promise<void>;
  /** Summary lines, sections, tables and figures of the report. */
  report(input: ReportInput<Rec>): ReportContent;
}

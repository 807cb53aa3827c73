/**
 * Experiment configs (YAML or JSON), validated before any work starts. Every field has the paper's value as default
 * where the paper has one; a run's resolved config is written next to its results.
 *
 * The fields here are common to every experiment kind; a kind adds its own (src/experiments/kinds/<kind>/options.ts,
 * `options`), and `experiment:` picks the kind (default `capacity`). Every name that becomes a folder is checked to
 * stay inside the results folder, every count and rate has sane bounds, and entries that would make two records share
 * a key (a model, source, length or K listed twice) are refused.
 */
import { z } from 'zod';
import { sourceName, type SourceSpec } from '../data/sources.ts';
import { TEXT_ENCODINGS } from '../files.ts';
import { BACKENDS } from '../engine/backends.ts';
import { PRECISIONS } from '../engine/precision.ts';

/** A name that becomes one folder: no separator, not "." or "..", not hidden. */
export const PATH_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
export const pathSegment = (what: string) =>
  z
    .string()
    .regex(
      PATH_SEGMENT,
      `${what} becomes a folder name: letters, digits, "_", "." and "-", not starting with "." (so not "." or "..")`,
    );

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const positiveInt = (max: number) => int(1, max);

/** Bounds: far above any sensible run, low enough that a typo (1e8 texts, lr 1e30) is caught before work starts. */
export const LIMITS = {
  texts: 100_000,
  length: 1_000_000,
  nMem: 65_536,
  steps: 10_000_000,
  batchTexts: 100_000,
  batchTokens: 1_000_000_000,
} as const;

const SourceKind = z.enum(['gutenberg-heldout', 'gutenberg-seen', 'random-words', 'file']);

/** A source is a bundled name ("gutenberg-heldout") or an object (for files: a path and the text column). */
export const SourceSchema = z.union([
  SourceKind.exclude(['file']),
  z
    .strictObject({
      kind: SourceKind,
      path: z.string().min(1).optional(),
      column: z.string().min(1).optional(),
      name: pathSegment('a source name').optional(),
      /** Keep the chunks' original line breaks instead of the paper's whitespace normalisation (Gutenberg sources). */
      keep_newlines: z.boolean().optional(),
      /** Encoding of the file at `path` (default utf8; anything that is not valid UTF-8 is refused unless latin1 is given). */
      encoding: z.enum(TEXT_ENCODINGS).optional(),
    })
    .refine((s) => s.kind !== 'file' || s.path !== undefined, { message: 'a source of kind "file" needs a path' })
    .refine((s) => !s.keep_newlines || s.kind === 'gutenberg-heldout' || s.kind === 'gutenberg-seen', {
      message: 'keep_newlines applies to the Gutenberg sources only (file texts are always taken as they are)',
    })
    .refine((s) => s.column === undefined || s.kind === 'file', {
      message: 'column applies to sources of kind "file" only',
    }),
]);

export const OptimizerSchema = z.strictObject({
  lr: z.number().gt(0).max(1).default(1e-2),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.9),
  eps: z.number().gt(0).max(1).default(1e-8),
  weight_decay: z.number().min(0).max(1).default(0.01),
});
export const PAPER_OPTIMIZER = { lr: 1e-2, beta1: 0.9, beta2: 0.9, eps: 1e-8, weight_decay: 0.01 };

export const BatchSchema = z.strictObject({
  max_texts: positiveInt(LIMITS.batchTexts).default(32),
  max_tokens: positiveInt(LIMITS.batchTokens).default(8192),
});

/** The optimisation fields, shared by configs, `cram run` and the compressor (src/config/settings.ts). */
export const CramFieldsSchema = z.strictObject({
  optimizer: OptimizerSchema.default(PAPER_OPTIMIZER),
  max_steps: positiveInt(LIMITS.steps).default(5000),
  patience: positiveInt(LIMITS.steps).default(2000),
  batch: BatchSchema.default({ max_texts: 32, max_tokens: 8192 }),
  /** Precision of the matrix products, as torch.autocast (src/engine/precision.ts); the rest stays float32. */
  precision: z.enum(PRECISIONS).default('float32'),
});

const duplicates = <T>(xs: readonly T[], key: (x: T) => string = String): string[] => {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const x of xs) (seen.has(key(x)) ? dup : seen).add(key(x));
  return [...dup];
};
const unique = <T extends z.ZodType>(item: T, what: string) =>
  z
    .array(item)
    .min(1)
    .superRefine((xs, ctx) => {
      const d = duplicates(xs as unknown[], (x) => JSON.stringify(x));
      if (d.length)
        ctx.addIssue({
          code: 'custom',
          message: `${what} ${d.join(', ')} listed twice: every record would be made twice under one key`,
        });
    });

export const CommonConfigShape = {
  /** Which kind of experiment (src/experiments/kinds/); default the paper's capacity sweep. */
  experiment: z.string().default('capacity'),
  /** Run name: results go to <output_dir>/<name>/. */
  name: pathSegment('the run name'),
  description: z.string().optional(),
  output_dir: z.string().trim().min(1, 'the results folder must be named (default "results")').default('results'),
  backend: z.enum(BACKENDS).default('auto'),
  seed: z.number().int().default(0),
  /** Bundled model names or local Hugging Face / llama2.c folders. */
  models: unique(z.string().min(1), 'model'),
  sources: unique(SourceSchema, 'source').superRefine((xs, ctx) => {
    const names = xs.map((s) => sourceName(typeof s === 'string' ? { kind: s } : (s as SourceSpec)));
    const d = duplicates(names);
    if (d.length)
      ctx.addIssue({
        code: 'custom',
        message: `two sources are both named ${d.map((n) => `"${n}"`).join(', ')}: their records and vectors would overwrite each other; give each a distinct name`,
      });
  }),
  /** Text lengths in tokens, BOS counted (the paper's grid). Random-word texts draw their own lengths. */
  lengths: unique(int(2, LIMITS.length), 'length'),
  /** Numbers of [mem] vectors K. */
  n_mem: unique(positiveInt(LIMITS.nMem), 'n_mem').default([1]),
  /** Texts per (model, source, length, K); the paper uses 50 (100 for random words). */
  samples: positiveInt(LIMITS.texts).default(50),
  /** Random-word texts per (model, K); the paper uses 100 (default: samples). */
  random_samples: positiveInt(LIMITS.texts).optional(),
  /** Random words: lengths uniform on 2..random_max_length (default: the largest length). */
  random_max_length: int(2, LIMITS.length).optional(),
  ...CramFieldsSchema.shape,
  /** Record per-step loss/accuracy curves for this many texts per (model, source, K, length). */
  curves: int(0, LIMITS.texts).default(2),
  /** Check exact greedy regeneration for every text. */
  regenerate: z.boolean().default(true),
  save_vectors: z.boolean().default(true),
  /**
   * Shards the run is split into when its tasks come from a scheduler that gives only an index (a Kubernetes Indexed
   * Job's JOB_COMPLETION_INDEX), and `cram slurm`'s default --tasks. Not part of the results: a run is split once,
   * recorded in its folder (src/run/shards.ts).
   */
  shards: positiveInt(10_000).optional(),
} as const;

export const CommonConfigSchema = z.strictObject(CommonConfigShape);

export type ExperimentConfig = z.infer<typeof CommonConfigSchema>;
export type SourceConfig = z.infer<typeof SourceSchema>;
export type CramFields = z.infer<typeof CramFieldsSchema>;

export function sourceSpec(s: SourceConfig): SourceSpec {
  return typeof s === 'string' ? { kind: s } : (s as SourceSpec);
}

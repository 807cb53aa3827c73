/**
 * Experiment configs (YAML or JSON), validated before any work starts. Every field has the paper's value as default
 * where the paper has one; a run's resolved config is written next to its results.
 */
import { z } from 'zod';
import { BACKENDS } from '../engine/backend.ts';

const positiveInt = z.number().int().positive();

const SourceKind = z.enum(['gutenberg-heldout', 'gutenberg-seen', 'random-words', 'file']);

/** A source is a bundled name ("gutenberg-heldout") or an object (for files: a path and the text column). */
const SourceSchema = z.union([
  SourceKind.exclude(['file']),
  z.strictObject({
    kind: SourceKind,
    path: z.string().min(1).optional(),
    column: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
  }).refine((s) => s.kind !== 'file' || s.path !== undefined, { message: 'a source of kind "file" needs a path' }),
]);

export const ConfigSchema = z.strictObject({
  /** Run name: results go to <output_dir>/<name>/. */
  name: z.string().regex(/^[\w.-]+$/, 'letters, digits, ".", "_" and "-" only'),
  description: z.string().optional(),
  output_dir: z.string().default('results'),
  backend: z.enum(BACKENDS).default('auto'),
  seed: z.number().int().default(0),
  /** Bundled model names or local Hugging Face / llama2.c folders. */
  models: z.array(z.string().min(1)).min(1),
  sources: z.array(SourceSchema).min(1),
  /** Text lengths in tokens, BOS counted (the paper's grid). Random-word texts draw their own lengths. */
  lengths: z.array(z.number().int().min(2)).min(1),
  /** Numbers of [mem] vectors K. */
  n_mem: z.array(positiveInt).min(1).default([1]),
  /** Texts per (model, source, length, K); the paper uses 50 (100 for random words). */
  samples: positiveInt.default(50),
  /** Random-word texts per (model, K); the paper uses 100 (default: samples). */
  random_samples: positiveInt.optional(),
  /** Random words: lengths uniform on 2..random_max_length (default: the largest length). */
  random_max_length: z.number().int().min(2).optional(),
  optimizer: z.strictObject({
    lr: z.number().positive().default(1e-2),
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.9),
    eps: z.number().positive().default(1e-8),
    weight_decay: z.number().min(0).default(0.01),
  }).default({ lr: 1e-2, beta1: 0.9, beta2: 0.9, eps: 1e-8, weight_decay: 0.01 }),
  max_steps: positiveInt.default(5000),
  patience: positiveInt.default(2000),
  batch: z.strictObject({
    max_texts: positiveInt.default(32),
    max_tokens: positiveInt.default(8192),
  }).default({ max_texts: 32, max_tokens: 8192 }),
  /** Record per-step loss/accuracy curves for this many texts per (model, source, K, length). */
  curves: z.number().int().min(0).default(2),
  /** Check exact greedy regeneration for every text. */
  regenerate: z.boolean().default(true),
  save_vectors: z.boolean().default(true),
});

export type ExperimentConfig = z.infer<typeof ConfigSchema>;
export type SourceConfig = z.infer<typeof SourceSchema>;

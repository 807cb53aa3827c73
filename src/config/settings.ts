/**
 * The one place where optimisation settings are built from configuration: the experiment runner (from a config),
 * `cram run` (from its flags) and the compressor (from its options) all go through `cramFields` (validation and the
 * paper's defaults, the same bounds as a config) and `cramSettings` (the engine's settings object).
 */
import type { CramSettings } from '../cram/cram.ts';
import { describeIssue } from './issues.ts';
import type { Precision } from '../engine/precision.ts';
import { CramFieldsSchema, type CramFields } from './schema.ts';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Validated optimisation fields with the paper's defaults filled in; `where` names the input in an error. */
export function cramFields(
  partial: DeepPartial<CramFields>,
  where: string,
  names: Record<string, string> = {},
): CramFields {
  const r = CramFieldsSchema.safeParse(stripUndefined(partial));
  if (!r.success) throw new Error(`${where}: ${describeIssue(partial, r.error.issues[0], names)}`);
  return r.data;
}

/** The engine's settings from validated fields (a config, or `cramFields`). */
export function cramSettings(c: CramFields, opts: { recordTrajectory?: boolean } = {}): CramSettings {
  return {
    optimizer: {
      lr: c.optimizer.lr,
      beta1: c.optimizer.beta1,
      beta2: c.optimizer.beta2,
      eps: c.optimizer.eps,
      weightDecay: c.optimizer.weight_decay,
    },
    maxSteps: c.max_steps,
    patience: c.patience,
    maxBatch: c.batch.max_texts,
    maxBatchTokens: c.batch.max_tokens,
    recordTrajectory: opts.recordTrajectory ?? false,
  };
}

/** The precision of the matrix products (validated with the other fields; the model is opened with it). */
export function cramPrecision(c: CramFields): Precision {
  return c.precision;
}

function stripUndefined(o: unknown): unknown {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return o;
  return Object.fromEntries(
    Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, stripUndefined(v)]),
  );
}

/** One text, end to end: tokens → cramming → metrics → regeneration → vector file. Used by `cram run`. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LoadedModel } from '../models/load.ts';
import type { CompiledModel } from './compiled-model.ts';
import { textMetrics, theoreticalCapacity, type TextMetrics } from '../metrics/text-metrics.ts';
import type { SampleRecord } from '../results/sample-record.ts';
import { cramOne, type CramProgress, type CramSettings } from './engine.ts';
import { regenerate } from './regenerate.ts';
import { idsSha256, sha256, writeVectorFile } from './vector-file.ts';

/** The experiment record's per-text fields (results/sample-record.ts), plus the exact metrics and capacity of one run. */
export interface SingleRunResult extends TextMetrics, Pick<SampleRecord,
  'model' | 'n_tokens' | 'n_mem' | 'seed' | 'original_loss' | 'original_accuracy' | 'best_loss' | 'best_accuracy'
  | 'loss_at_best_accuracy' | 'best_step' | 'steps' | 'stop_reason' | 'regenerated_exact' | 'regenerated_prefix_tokens' | 'seconds'> {
  theoretical_capacity: number;
  vector_file: string | null;
}

export async function cramText(loaded: LoadedModel & { engine: CompiledModel }, ids: number[], opts: {
  nMem: number; seed: number; settings: CramSettings; out: string | null; onStep?: (p: CramProgress) => void;
}): Promise<SingleRunResult> {
  const { model } = loaded;
  const o = await cramOne(loaded.engine, { key: `single-${idsSha256(ids).slice(0, 12)}`, ids, nMem: opts.nMem, seed: `${opts.seed}` }, opts.settings, opts.onStep);
  const regen = await regenerate(loaded.engine, o.memory, o.nMem, ids);
  const metrics = textMetrics({ nTokens: o.nTokens, originalLoss: o.originalLoss, originalAccuracy: o.originalAccuracy, bestLoss: o.bestLoss, bestAccuracy: o.bestAccuracy });
  if (opts.out) {
    mkdirSync(dirname(opts.out), { recursive: true });
    writeVectorFile(opts.out, o.memory, {
      model: loaded.name, model_sha256: loaded.weightsSha256, tokenizer_sha256: loaded.tokenizer?.fingerprint ?? '',
      n_mem: o.nMem, embed_dim: o.embedDim, n_tokens: o.nTokens, ids_sha256: idsSha256(ids),
      text_sha256: loaded.tokenizer ? sha256(loaded.tokenizer.decode(ids)) : '',
      extra: { best_accuracy: o.bestAccuracy, steps: o.steps, seed: opts.seed, lr: opts.settings.optimizer.lr },
    });
  }
  return {
    model: loaded.name, n_tokens: o.nTokens, n_mem: o.nMem, seed: opts.seed,
    original_loss: o.originalLoss, original_accuracy: o.originalAccuracy, best_loss: o.bestLoss, best_accuracy: o.bestAccuracy,
    loss_at_best_accuracy: o.lossAtBestAccuracy, best_step: o.bestStep, steps: o.steps, stop_reason: o.stopReason,
    ...metrics,
    regenerated_exact: regen.regenerated_exact, regenerated_prefix_tokens: regen.regenerated_prefix_tokens,
    theoretical_capacity: theoreticalCapacity(model.embedDim, model.numEmbeddings), seconds: o.seconds, vector_file: opts.out,
  };
}

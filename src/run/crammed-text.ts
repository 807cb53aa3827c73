/**
 * One crammed text, end to end: the greedy regeneration check, its vectors saved with what they were made from, its
 * metrics and the per-text fields of a SampleRecord. Used by the capacity kind and by `cram run`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { idsSha256, sha256, writeVectorFile } from '../cram/vector-file.ts';
import { textMetrics, type TextMetrics } from '../metrics/text-metrics.ts';
import type { SampleRecord } from '../results/sample-record.ts';
import type { CramOutcome, ModelSession, Regeneration } from './model-session.ts';

/** A SampleRecord's per-text fields (everything but where the text came from and the vector file). */
export type TextFields = Omit<SampleRecord, 'run' | 'source' | 'length' | 'sample_index' | 'seed' | 'vector_file'>;

export interface CrammedText {
  fields: TextFields;
  metrics: TextMetrics;
  regeneration: Regeneration | null;
}

/** One crammed text: greedy regeneration check, the vectors saved (when `vectorPath`), metrics and record fields. */
export async function crammedText(
  session: ModelSession,
  o: CramOutcome,
  ids: number[],
  opts: {
    regenerate: boolean;
    vectorPath: string | null;
    extra: Record<string, string | number>;
  },
): Promise<CrammedText> {
  const regen = opts.regenerate ? await session.regenerate(o.memory, o.nMem, ids) : null;
  if (opts.vectorPath) {
    mkdirSync(dirname(opts.vectorPath), { recursive: true });
    // The ids crammed and the greedy regeneration (up to its first miss), for `cram view`'s text page.
    const kept = { token_ids: ids.join(','), ...(regen ? { regenerated_ids: regen.generated.join(',') } : {}) };
    saveTextVectors(opts.vectorPath, session, o.memory, o.nMem, ids, { ...opts.extra, ...kept });
  }
  const m = textMetrics({
    nTokens: o.nTokens,
    originalLoss: o.originalLoss,
    originalAccuracy: o.originalAccuracy,
    bestLoss: o.bestLoss,
    bestAccuracy: o.bestAccuracy,
  });
  return {
    metrics: m,
    regeneration: regen,
    fields: {
      model: session.name,
      n_tokens: o.nTokens,
      n_mem: o.nMem,
      original_loss: o.originalLoss,
      original_accuracy: o.originalAccuracy,
      best_loss: o.bestLoss,
      best_accuracy: o.bestAccuracy,
      loss_at_best_accuracy: o.lossAtBestAccuracy,
      original_ce: m.original_ce_paper,
      compressed_ce: m.compressed_ce_paper,
      info_gain_nats: m.info_gain_nats,
      info_gain_bits: m.info_gain_bits,
      token_gain: m.token_gain,
      steps: o.steps,
      best_step: o.bestStep,
      stop_reason: o.stopReason,
      regenerated_exact: regen?.regenerated_exact ?? false,
      regenerated_prefix_tokens: regen?.regenerated_prefix_tokens ?? -1,
      seconds: o.seconds,
      embed_dim: o.embedDim,
      embedding_rows: session.numEmbeddings,
      ids_sha256: idsSha256(ids),
    },
  };
}

/**
 * Writes the vectors trained for one text (`nMem` rows of the model's width) as a vector file: safetensors plus what
 * `cram eval` checks before using them (model and tokenizer hashes, the text's ids and text hashes) and `extra`.
 * Kinds write the file before the record that names it, so a record always has its file.
 */
export function saveTextVectors(
  path: string,
  session: ModelSession,
  memory: Float32Array,
  nMem: number,
  ids: number[],
  extra: Record<string, string | number>,
): void {
  writeVectorFile(path, memory, {
    model: session.name,
    model_sha256: session.weightsSha256,
    tokenizer_sha256: session.tokenizer.fingerprint,
    n_mem: nMem,
    embed_dim: session.embedDim,
    n_tokens: ids.length,
    ids_sha256: idsSha256(ids),
    text_sha256: sha256(session.tokenizer.decode(ids)),
    extra: { precision: session.precision, ...extra },
  });
}

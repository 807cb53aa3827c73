/**
 * Exact greedy regeneration: from the trained vectors plus the text's first token (BOS where the tokenizer adds one),
 * generate greedily and compare with the text. Stricter than teacher-forced accuracy: one early miss cascades.
 */
import type { CompiledModel } from './compiled-model.ts';
import { commonPrefixLength, greedyGenerateMany } from './generate.ts';

export interface Regeneration {
  /** All N-1 tokens after the first came back exactly. */
  regenerated_exact: boolean;
  /** How many tokens after the first came back before the first miss. */
  regenerated_prefix_tokens: number;
  /** The generated ids (stops at the first miss unless `full`). */
  generated: number[];
}

export interface RegenerationItem {
  memory: Float32Array;
  ids: number[];
}

/** Regenerates texts that share K in one decoding batch. */
export async function regenerateMany(
  model: CompiledModel,
  nMem: number,
  items: RegenerationItem[],
  full = false,
): Promise<Regeneration[]> {
  const generated = await greedyGenerateMany(
    model,
    items.map((it) => {
      if (it.memory.length !== nMem * model.embedDim)
        throw new Error(`vectors hold ${it.memory.length} values, expected ${nMem}×${model.embedDim}`);
      const target = it.ids.slice(1);
      return {
        parts: [{ vectors: it.memory }, { ids: [it.ids[0]] }],
        maxNew: target.length,
        expected: target,
        stopAtMismatch: !full,
      };
    }),
  );
  return items.map((it, i) => {
    const n = commonPrefixLength(generated[i], it.ids.slice(1));
    return { regenerated_exact: n === it.ids.length - 1, regenerated_prefix_tokens: n, generated: generated[i] };
  });
}

export async function regenerate(
  model: CompiledModel,
  memory: Float32Array,
  nMem: number,
  ids: number[],
  full = false,
): Promise<Regeneration> {
  return (await regenerateMany(model, nMem, [{ memory, ids }], full))[0];
}

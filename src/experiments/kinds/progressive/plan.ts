/**
 * The progressive plan: per (source, K, text at least target_length long) one item with its target ids and, with
 * `compare_capacity`, the fixed-grid jobs of the same text (the capacity kind's plan).
 */
import { sourceSpec } from '../../../config/schema.ts';
import { loadSourceTexts, sourceName } from '../../../data/sources.ts';
import type { Plan, PlanContext, SkippedText, WorkItem } from '../../kind.ts';
import { capacity } from '../capacity/index.ts';
import type { PlannedJob } from '../capacity/plan.ts';
import { optionsOf, targetLength } from './options.ts';
import { progressiveKey } from './records.ts';

export interface ProgressiveItem extends WorkItem {
  model: string;
  source: string;
  sampleIndex: number;
  nMem: number;
  ids: number[];
  seed: string;
  recordCurve: boolean;
  grid: PlannedJob[];
}

export function plan(ctx: PlanContext): Plan<ProgressiveItem> {
  const { config, model, tokenizer } = ctx;
  const o = optionsOf(config);
  const target = targetLength(config);
  const maxK = Math.max(...config.n_mem);
  if (target < Math.max(...config.lengths))
    throw new Error(
      `target_length: ${target} is shorter than the largest of lengths (${Math.max(...config.lengths)}); the grid compares prefixes of the target`,
    );
  if (o.start_length > target)
    throw new Error(`start_length: ${o.start_length} is longer than the target (the largest of lengths, ${target})`);
  if (target + maxK > model.maxPositions) {
    throw new Error(
      `the target (target_length, default the largest of lengths) = ${target} tokens with K = ${maxK} vectors needs ${target + maxK} positions, but ${model.name} takes ${model.maxPositions} (${model.positionsFrom})`,
    );
  }
  for (const s of config.sources) {
    if (sourceSpec(s).kind === 'random-words')
      throw new Error(
        'sources: progressive grows prefixes of one long text; random-words texts have their own short lengths (use gutenberg-* or file sources)',
      );
  }
  const grid = o.compare_capacity ? capacity.plan(ctx).items : [];
  const items: ProgressiveItem[] = [];
  const skipped: SkippedText[] = [];
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    const source = sourceName(spec);
    const texts = loadSourceTexts(spec, tokenizer, {
      count: config.samples,
      maxLength: target,
      seed: config.seed,
      onProgress: (done, total) => ctx.progress(`${model.name}: tokenizing ${source}, ${done}/${total} texts`),
    });
    const long = texts.filter((t) => t.ids.length >= target);
    if (long.length === 0)
      throw new Error(
        `target_length: no text of ${source} has ${target} tokens (the target; default the largest of lengths); lower it or use longer texts`,
      );
    for (const t of texts)
      if (t.ids.length < target)
        skipped.push({ model: model.name, source, length: target, sample_index: t.index, n_tokens: t.ids.length });
    for (const nMem of config.n_mem) {
      for (const t of long) {
        items.push({
          key: progressiveKey(model.name, source, nMem, t.index),
          positions: nMem + target,
          model: model.name,
          source,
          sampleIndex: t.index,
          nMem,
          ids: t.ids.slice(0, target),
          seed: `${config.seed}|${source}|${t.index}|K${nMem}`,
          recordCurve: t.index < config.curves,
          grid: grid.filter((j) => j.source === source && j.nMem === nMem && j.sampleIndex === t.index),
        });
      }
    }
  }
  return { items, skipped };
}

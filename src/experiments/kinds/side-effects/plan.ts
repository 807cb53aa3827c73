/**
 * The side-effects plan: the held-out evaluation set, one reference item per (condition, K) and one donor item per
 * (donor text, K).
 */
import { sourceSpec } from '../../../config/schema.ts';
import { loadSourceTexts, sourceName } from '../../../data/sources.ts';
import type { Plan, PlanContext, WorkItem } from '../../kind.ts';
import { planStudyTexts, type StudyText } from '../../study-texts.ts';
import type { Config } from './options.ts';
import { donorKey, referenceKey } from './records.ts';

export interface EvalSet {
  source: string;
  length: number;
  indices: number[];
  ids: number[][];
}
export interface DonorItem extends WorkItem {
  type: 'donor';
  text: StudyText;
  model: string;
  nMem: number;
  ids: number[];
  seed: string;
  evalSet: EvalSet;
}
export interface ReferenceItem extends WorkItem {
  type: 'reference';
  condition: 'none' | 'mean_embedding';
  model: string;
  nMem: number;
  evalSet: EvalSet;
}
export type Item = DonorItem | ReferenceItem;

export function plan(ctx: PlanContext): Plan<Item> {
  const config = ctx.config as Config;
  const model = ctx.model.name;
  const { texts, skipped } = planStudyTexts(ctx, { kind: 'side-effects' });
  const spec = sourceSpec(config.eval_source);
  const evalName = sourceName(spec);
  if (spec.kind === 'random-words')
    throw new Error('eval_source: use natural texts (a Gutenberg source or a file) for the unrelated texts');
  const donorSources = new Set(config.sources.map((s) => sourceName(sourceSpec(s))));
  const offset = donorSources.has(evalName) ? config.samples : 0;
  const maxK = Math.max(...config.n_mem);
  if (config.eval_length + maxK > ctx.model.maxPositions)
    throw new Error(
      `eval_length: ${config.eval_length} tokens with K = ${maxK} vectors needs ${config.eval_length + maxK} positions, but ${model} takes ${ctx.model.maxPositions}`,
    );
  let all;
  try {
    all = loadSourceTexts(spec, ctx.tokenizer, {
      count: offset + config.eval_texts,
      maxLength: config.eval_length,
      seed: config.seed,
    });
  } catch (e) {
    throw new Error(
      `eval_texts: ${config.eval_texts} texts of ${evalName}${offset ? ` after the ${offset} donor texts` : ''}: ${(e as Error).message}`,
    );
  }
  const chosen = all.slice(offset);
  const short = chosen.filter((t) => t.ids.length < config.eval_length);
  if (short.length)
    throw new Error(
      `eval_length: ${short.length} of the evaluation texts of ${evalName} are shorter than ${config.eval_length} tokens (e.g. #${short[0].index}, ${short[0].ids.length}); lower eval_length`,
    );
  const evalSet: EvalSet = {
    source: evalName,
    length: config.eval_length,
    indices: chosen.map((t) => t.index),
    ids: chosen.map((t) => t.ids),
  };
  const items: Item[] = [];
  items.push({
    type: 'reference',
    condition: 'none',
    key: referenceKey(model, 'none', 0),
    positions: config.eval_length,
    model,
    nMem: 0,
    evalSet,
  });
  for (const nMem of config.n_mem) {
    items.push({
      type: 'reference',
      condition: 'mean_embedding',
      key: referenceKey(model, 'mean_embedding', nMem),
      positions: nMem + config.eval_length,
      model,
      nMem,
      evalSet,
    });
    for (const t of texts) {
      items.push({
        type: 'donor',
        key: donorKey(model, t.source, t.length, nMem, t.index),
        positions: nMem + Math.max(t.ids.length, config.eval_length),
        text: t,
        model,
        nMem,
        ids: t.ids,
        seed: `${config.seed}|${t.source}|${t.index}|K${nMem}`,
        evalSet,
      });
    }
  }
  return { items, skipped };
}

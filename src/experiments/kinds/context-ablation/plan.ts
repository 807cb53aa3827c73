/**
 * The context-ablation plan: per text (the second half of a Gutenberg chunk) one item per context length P and one
 * per K of n_mem (the text crammed).
 */
import { readChunks } from '../../../data/natural-text.ts';
import { BUNDLED_CHUNKS, type SourceSpec } from '../../../data/sources.ts';
import type { Plan, PlanContext, WorkItem } from '../../kind.ts';
import { planStudyTexts, type StudyText } from '../../study-texts.ts';
import { lastIds, precedingIds, precedingText } from './context.ts';
import type { Config } from './options.ts';
import { textBase } from './records.ts';

export interface ContextItem extends WorkItem {
  type: 'context';
  text: StudyText;
  model: string;
  p: number;
  context: number[];
}
export interface VectorsItem extends WorkItem {
  type: 'vectors';
  text: StudyText;
  model: string;
  nMem: number;
  ids: number[];
  seed: string;
}
export type Item = ContextItem | VectorsItem;

function chunkFile(spec: SourceSpec): string {
  if (spec.kind !== 'gutenberg-heldout' && spec.kind !== 'gutenberg-seen') {
    throw new Error(
      `sources: context-ablation needs the text before each crammed text, which only the Gutenberg chunk sources have (got a "${spec.kind}" source)`,
    );
  }
  return spec.path ?? BUNDLED_CHUNKS[spec.kind];
}

export function plan(ctx: PlanContext): Plan<Item> {
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
        key: `${textBase(model, t.source, t.length, t.index)}|P${p}`,
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
        key: `${textBase(model, t.source, t.length, t.index)}|K${nMem}`,
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

/**
 * The texts of the analysis kinds (solution-space, context-ablation, side-effects), planned as the capacity sweep
 * takes them: same sources, same truncation, same skip rule for short texts.
 */
import { sourceSpec } from '../config/schema.ts';
import { loadSourceTexts, sourceName, type SourceSpec } from '../data/sources.ts';
import { fileSafe } from '../report/format.ts';
import { saveTextVectors } from '../run/crammed-text.ts';
import type { ModelSession } from '../run/model-session.ts';
import type { PlanContext, RunContext, SkippedText } from './kind.ts';

export interface StudyText {
  source: string;
  spec: SourceSpec;
  /** Index of the text in its source (the same text at every length). */
  index: number;
  /** Grid length L. */
  length: number;
  /** The first L token ids (BOS counted). */
  ids: number[];
}

/**
 * The first `count` texts (default `samples`) of every source at every length of the config, as the capacity sweep
 * plans them: a text shorter than a length is not a sample there (returned in `skipped`), a length longer than every
 * text is refused. Random-word sources draw one length per text, which these studies cannot group by; they are refused.
 */
export function planStudyTexts(
  ctx: PlanContext,
  opts: { kind: string; count?: number; offset?: number; extraPositions?: number } = { kind: '' },
): { texts: StudyText[]; skipped: SkippedText[] } {
  const { config, model, tokenizer } = ctx;
  const count = opts.count ?? config.samples;
  const offset = opts.offset ?? 0;
  const maxLength = Math.max(...config.lengths);
  const maxK = Math.max(...config.n_mem);
  const extra = opts.extraPositions ?? 0;
  if (maxLength + maxK + extra > model.maxPositions) {
    throw new Error(
      `the longest of lengths = ${maxLength} tokens with K = ${maxK} vectors${extra ? ` and ${extra} more positions` : ''} needs ${maxLength + maxK + extra} positions, ` +
        `but ${model.name} takes ${model.maxPositions} (${model.positionsFrom}); lower it or the largest n_mem`,
    );
  }
  const texts: StudyText[] = [];
  const skipped: SkippedText[] = [];
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    const source = sourceName(spec);
    if (spec.kind === 'random-words') {
      throw new Error(
        `sources: ${opts.kind} groups texts by length, and each random-word text draws its own length; use a Gutenberg source or a file of word sequences`,
      );
    }
    const all = loadSourceTexts(spec, tokenizer, {
      count: offset + count,
      maxLength,
      seed: config.seed,
      onProgress: (done, total) => ctx.progress(`${model.name}: tokenizing ${source}, ${done}/${total} texts`),
    }).slice(offset);
    for (const length of config.lengths) {
      if (!all.some((t) => t.ids.length >= length)) {
        const longest = Math.max(...all.map((t) => t.ids.length));
        throw new Error(
          `lengths: ${length} is longer than every text of ${source} (the longest has ${longest} tokens with the ${model.name} tokenizer); drop it`,
        );
      }
      for (const t of all) {
        if (t.ids.length < length) {
          skipped.push({ model: model.name, source, length, sample_index: t.index, n_tokens: t.ids.length });
          continue;
        }
        texts.push({ source, spec, index: t.index, length, ids: t.ids.slice(0, length) });
      }
    }
  }
  return { texts, skipped };
}

/**
 * Writes a study text's crammed vectors where the capacity sweep keeps them
 * (vectors/<model>/<source>/K<k>/L<L>-i<index>.safetensors) when the config says `save_vectors`; returns that path
 * relative to the run folder, or '' when nothing was written.
 */
export function saveStudyVectors(
  ctx: RunContext<object>,
  session: ModelSession,
  model: string,
  t: StudyText,
  memory: Float32Array,
  nMem: number,
): string {
  if (!ctx.config.save_vectors) return '';
  const file = `vectors/${model}/${fileSafe(t.source)}/K${nMem}/L${t.length}-i${t.index}.safetensors`;
  saveTextVectors(ctx.file(file), session, memory, nMem, t.ids, {
    run: ctx.config.name,
    source: t.source,
    length: t.length,
    sample_index: t.index,
  });
  return file;
}

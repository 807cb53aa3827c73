/**
 * The capacity sweep's plan: for every (source, K, text, length) one job. Natural texts are the same at every length
 * (shorter lengths are prefixes); a text shorter than a length is not a sample there (left out, and said so);
 * random-word texts carry their own sampled length.
 */
import { sourceSpec } from '../../../config/schema.ts';
import { loadSourceTexts, sourceName } from '../../../data/sources.ts';
import type { CramJob } from '../../../run/model-session.ts';
import type { Plan, PlanContext, SkippedText, WorkItem } from '../../kind.ts';
import { jobKey } from './records.ts';

export interface PlannedJob extends CramJob, WorkItem {
  model: string;
  source: string;
  length: number;
  sampleIndex: number;
  recordCurve: boolean;
}

export function plan(ctx: PlanContext): Plan<PlannedJob> {
  const { config, model, tokenizer } = ctx;
  const maxLength = Math.max(...config.lengths);
  const maxK = Math.max(...config.n_mem);
  const positionsError = (what: string, tokens: number) =>
    new Error(
      `${what} = ${tokens} tokens with K = ${maxK} vectors needs ${tokens + maxK} positions, ` +
        `but ${model.name} takes ${model.maxPositions} (${model.positionsFrom}); lower it or the largest n_mem`,
    );
  const jobs: PlannedJob[] = [];
  const skipped: SkippedText[] = [];
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    const source = sourceName(spec);
    const random = spec.kind === 'random-words';
    const randomMax = config.random_max_length ?? maxLength;
    if (random && randomMax + maxK > model.maxPositions) throw positionsError('random_max_length', randomMax);
    if (!random && maxLength + maxK > model.maxPositions) throw positionsError('the longest of lengths', maxLength);
    const texts = loadSourceTexts(spec, tokenizer, {
      count: random ? (config.random_samples ?? config.samples) : config.samples,
      maxLength: random ? randomMax : maxLength,
      seed: config.seed,
      onProgress: (done, total) => ctx.progress(`${model.name}: tokenizing ${source}, ${done}/${total} texts`),
    });
    if (!random) {
      for (const length of config.lengths) {
        if (!texts.some((t) => t.ids.length >= length)) {
          const longest = Math.max(...texts.map((t) => t.ids.length));
          throw new Error(
            `lengths: ${length} is longer than every text of ${source} (the longest has ${longest} tokens with the ${model.name} ` +
              `tokenizer); no text could be a sample at that length, so drop it (or use longer texts)`,
          );
        }
      }
    }
    for (const nMem of config.n_mem) {
      for (const t of texts) {
        const lengths = random ? [t.length ?? t.ids.length] : config.lengths;
        for (const length of lengths) {
          if (!random && t.ids.length < length) {
            // Too short to be a sample at this length: cramming it would credit tokens it does not have.
            if (nMem === config.n_mem[0])
              skipped.push({ model: model.name, source, length, sample_index: t.index, n_tokens: t.ids.length });
            continue;
          }
          const ids = t.ids.slice(0, length);
          if (ids.length < 2) continue;
          jobs.push({
            key: jobKey(model.name, source, length, nMem, t.index),
            ids,
            nMem,
            model: model.name,
            source,
            length,
            sampleIndex: t.index,
            positions: nMem + ids.length,
            // The same start for a text at every length: prefixes are directly comparable.
            seed: `${config.seed}|${source}|${t.index}|K${nMem}`,
            recordCurve: t.index < config.curves,
          });
        }
      }
    }
  }
  // Similar lengths side by side, so a batch wastes little on padding.
  jobs.sort((a, b) => a.nMem - b.nMem || a.ids.length - b.ids.length || a.key.localeCompare(b.key));
  return { items: jobs, skipped };
}

/**
 * The paper's experiment: for every (source, length, K, text) cram the text and record the outcome. Natural texts
 * are the same at every length (shorter lengths are prefixes); random-word texts carry their own sampled length.
 * This file only plans; experiments/run.ts executes the plan.
 */
import type { ExperimentConfig, SourceConfig } from '../src/config/schema.ts';
import type { CramJob } from '../src/cram/engine.ts';
import { loadSourceTexts, sourceName, type SourceSpec } from '../src/data/sources.ts';
import type { TextTokenizer } from '../src/tokenizer/text-tokenizer.ts';

export interface PlannedJob extends CramJob {
  model: string;
  source: string;
  length: number;
  sampleIndex: number;
  recordCurve: boolean;
}

export function sourceSpec(s: SourceConfig): SourceSpec {
  return typeof s === 'string' ? { kind: s } : s;
}

/** Key of one (model, source, length, K, text): what resuming skips. */
export function jobKey(model: string, source: string, length: number, nMem: number, index: number): string {
  return `${model}|${source}|L${length}|K${nMem}|i${index}`;
}

export function planModel(config: ExperimentConfig, model: string, tokenizer: TextTokenizer): PlannedJob[] {
  const maxLength = Math.max(...config.lengths);
  const jobs: PlannedJob[] = [];
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    const source = sourceName(spec);
    const random = spec.kind === 'random-words';
    const texts = loadSourceTexts(spec, tokenizer, { count: random ? (config.random_samples ?? config.samples) : config.samples, maxLength: random ? (config.random_max_length ?? maxLength) : maxLength, seed: config.seed });
    for (const nMem of config.n_mem) {
      for (const t of texts) {
        const lengths = random ? [t.length ?? t.ids.length] : config.lengths;
        for (const length of lengths) {
          const ids = t.ids.slice(0, length);
          if (ids.length < 2) continue;
          jobs.push({
            key: jobKey(model, source, length, nMem, t.index), ids, nMem, model, source, length, sampleIndex: t.index,
            // The same start for a text at every length: prefixes are directly comparable.
            seed: `${config.seed}|${source}|${t.index}|K${nMem}`,
            recordCurve: t.index < config.curves,
          });
        }
      }
    }
  }
  // Similar lengths side by side, so a batch wastes little on padding.
  return jobs.sort((a, b) => a.nMem - b.nMem || a.ids.length - b.ids.length || a.key.localeCompare(b.key));
}

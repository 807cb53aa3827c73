/** The real text before a crammed text: what the model reads in place of the vectors. */
import { sentenceSpans, splitSentences } from '../../../data/sentences.ts';
import type { TextTokenizer } from '../../../tokenizer/text-tokenizer.ts';

/**
 * The part of a chunk before its crammed second half, with the separator that follows it: the first half of the
 * sentences joined by single spaces plus one space (whitespace-normalised, as the paper), or the chunk's own text up to
 * the second half's first sentence (keep_newlines: its line breaks kept).
 */
export function precedingText(chunk: { text: string; text_lines?: string }, keepNewlines: boolean): string {
  if (keepNewlines) {
    const text = chunk.text_lines ?? '';
    const spans = sentenceSpans(text);
    if (spans.length < 2) return '';
    return text.slice(spans[0][0], spans[Math.floor(spans.length / 2)][0]);
  }
  const sentences = splitSentences(chunk.text);
  const first = sentences.slice(0, Math.floor(sentences.length / 2));
  return first.length ? `${first.join(' ')} ` : '';
}

/** The token ids of the preceding text, its BOS dropped. */
export function precedingIds(tokenizer: TextTokenizer, preceding: string): number[] {
  if (preceding === '') return [];
  const ids = tokenizer.encode(preceding);
  return tokenizer.bosId !== null && ids[0] === tokenizer.bosId ? ids.slice(1) : ids;
}

/** The last `p` token ids of the preceding text (its BOS dropped). */
export function contextIds(tokenizer: TextTokenizer, preceding: string, p: number): number[] {
  return p === 0 ? [] : lastIds(precedingIds(tokenizer, preceding), p);
}

export const lastIds = (ids: number[], p: number) => (p === 0 ? [] : ids.slice(Math.max(0, ids.length - p)));

/** The model's input with context: [BOS or t_1, context, t_2 … t_N]. */
export function withContext(ids: readonly number[], context: readonly number[]): number[] {
  return [ids[0], ...context, ...ids.slice(1)];
}

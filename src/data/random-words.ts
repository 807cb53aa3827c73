/**
 * The paper's random word sequences (the official `train.py --shuffled`), seeded:
 * per sample i, with a generator seeded by `${seed}:random:${i}`,
 * - L is drawn uniformly from 2..maxLength;
 * - L × 5 words are drawn uniformly, with replacement, from the vocabulary and joined by single spaces;
 * - the text is tokenized with the model's default special tokens and truncated to L tokens (BOS counted).
 * Sample i depends only on (seed, i, vocabulary, maxLength), so asking for more samples keeps the first ones.
 */
import seedrandom from 'seedrandom';
import { readTextFile, type TextEncodingName } from '../files.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';

export interface RandomWordText {
  index: number;
  /** The sampled length L (2..maxLength). ids.length equals L unless the words made fewer tokens. */
  length: number;
  /** The L × 5 sampled words joined by spaces (untruncated). */
  text: string;
  /** Token ids of `text`, BOS first where the tokenizer adds one, truncated to L. */
  ids: number[];
}

/** A word list: one word per line, in file order; blank lines are skipped. */
export function readVocabulary(path: string, encoding: TextEncodingName = 'utf8'): string[] {
  const raw = readTextFile(path, encoding, 'vocabulary file');
  const words = raw
    .split('\n')
    .map((w) => w.trim())
    .filter((w) => w !== '');
  if (words.length === 0) throw new Error(`${path}: the vocabulary file has no words`);
  return words;
}

export function randomWordTexts(
  vocabulary: readonly string[],
  tokenizer: TextTokenizer,
  opts: { count: number; maxLength: number; seed: string | number; onProgress?: (done: number, total: number) => void },
): RandomWordText[] {
  const { count, maxLength, seed, onProgress } = opts;
  if (!Number.isInteger(count) || count < 1) throw new Error(`count must be a positive integer, got ${count}`);
  if (!Number.isInteger(maxLength) || maxLength < 2)
    throw new Error(`random words need maxLength >= 2, got ${maxLength}`);
  if (vocabulary.length === 0) throw new Error('the vocabulary is empty');
  const out: RandomWordText[] = [];
  for (let i = 0; i < count; i++) {
    const rng = seedrandom(`${seed}:random:${i}`);
    const length = 2 + Math.floor(rng() * (maxLength - 1));
    const words = new Array<string>(length * 5);
    for (let w = 0; w < words.length; w++) words[w] = vocabulary[Math.floor(rng() * vocabulary.length)];
    const text = words.join(' ');
    const ids = tokenizer.encode(text).slice(0, length);
    out.push({ index: i, length, text, ids });
    if (onProgress && (i + 1) % 200 === 0) onProgress(i + 1, count);
  }
  return out;
}

/**
 * Natural text as the paper prepares it (the official `train.py`): each chunk is split into
 * sentences, the SECOND half of the sentences is kept (`' '.join(sentences[len//2:])`; the first half is
 * the "prefix" of the context ablation), and the text is tokenized with the model's default special tokens
 * and truncated to L tokens, BOS counted. The same text serves every length, so the ids for a shorter L
 * are a prefix of the ids for a longer one.
 *
 * The paper whitespace-normalises its books (every run of whitespace becomes one space), and so does the default
 * here. With `keepNewlines`, the same sentences are kept with the book's original line breaks (the chunk's
 * `text_lines`), which is how the bundled gutenberg-llama models saw text in training.
 */
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
import { readTextFile, type TextEncodingName } from '../files.ts';
import { sentenceSpans, splitSentences } from './sentences.ts';

/** One line of a chunk file (data/gutenberg/*-chunks.jsonl). */
export interface TextChunk {
  id: string;
  author: string;
  title: string;
  /** Whitespace-normalised text (the paper's preparation). */
  text: string;
  /** The same span with the book's original line breaks (bundled chunks have it; other chunk files may not). */
  text_lines?: string;
}

export interface NaturalText {
  /** Position of the chunk in its file (0-based). */
  index: number;
  /** The chunk's id, e.g. "heldout-3". */
  id: string;
  /** The second half of the chunk's sentences, joined by single spaces (untruncated). */
  text: string;
  /** Token ids of `text` (BOS first where the tokenizer adds one), truncated to maxLength. */
  ids: number[];
  /** ids.length. */
  length: number;
  /** True when the text had at least maxLength tokens (so `ids` was cut to exactly maxLength). */
  truncated: boolean;
}

/** The paper's rule: split into sentences, keep `sentences.slice(floor(n / 2))`, join with ' '. */
export function secondHalf(text: string): string {
  const sentences = splitSentences(text);
  return sentences.slice(Math.floor(sentences.length / 2)).join(' ');
}

/** The same sentences as `secondHalf`, with the text's own whitespace (line breaks) between and within them. */
export function secondHalfKeepingNewlines(text: string): string {
  const spans = sentenceSpans(text);
  if (spans.length === 0) return '';
  return text.slice(spans[Math.floor(spans.length / 2)][0], spans[spans.length - 1][1]);
}

/** Read a chunk file (JSONL of {id, author, title, text[, text_lines]}); errors name the file and line. */
export function readChunks(path: string, encoding: TextEncodingName = 'utf8'): TextChunk[] {
  const raw = readTextFile(path, encoding, 'chunk file');
  const chunks: TextChunk[] = [];
  const lines = raw.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new Error(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const o = obj as Partial<TextChunk> | null;
    if (o === null || typeof o !== 'object' || typeof o.text !== 'string') {
      throw new Error(`${path}:${i + 1}: expected an object with a string "text" field`);
    }
    chunks.push({
      id: typeof o.id === 'string' ? o.id : `${chunks.length}`,
      author: typeof o.author === 'string' ? o.author : '',
      title: typeof o.title === 'string' ? o.title : '',
      text: o.text,
      ...(typeof o.text_lines === 'string' ? { text_lines: o.text_lines } : {}),
    });
  }
  if (chunks.length === 0) throw new Error(`${path}: no chunks (the file is empty)`);
  return chunks;
}

/**
 * The first `count` chunks (file order; the paper takes the first 50), each reduced to its second half of
 * sentences, tokenized and truncated to `maxLength` tokens counting BOS. A text shorter than maxLength is
 * returned whole with `truncated: false` and its actual length, never padded.
 */
export function naturalTexts(
  chunks: readonly TextChunk[],
  tokenizer: TextTokenizer,
  count: number,
  maxLength: number,
  opts: { keepNewlines?: boolean; where?: string; onProgress?: (done: number, total: number) => void } = {},
): NaturalText[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`count must be a positive integer, got ${count}`);
  if (!Number.isInteger(maxLength) || maxLength < 1)
    throw new Error(`maxLength must be a positive integer, got ${maxLength}`);
  if (count > chunks.length)
    throw new Error(
      `asked for ${count} natural texts but only ${chunks.length} chunks are available${opts.where ? ` in ${opts.where}` : ''}`,
    );
  return chunks.slice(0, count).map((chunk, index) => {
    if (opts.keepNewlines && chunk.text_lines === undefined) {
      throw new Error(
        `${opts.where ?? 'chunk file'}: chunk ${chunk.id} has no "text_lines" (the text with its line breaks), which keep_newlines needs`,
      );
    }
    const text = opts.keepNewlines ? secondHalfKeepingNewlines(chunk.text_lines!) : secondHalf(chunk.text);
    const all = tokenizer.encode(text);
    opts.onProgress?.(index + 1, count);
    const ids = all.slice(0, maxLength);
    return { index, id: chunk.id, text, ids, length: ids.length, truncated: all.length >= maxLength };
  });
}

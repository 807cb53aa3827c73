/**
 * One entry point for the texts an experiment crams:
 * - `gutenberg-heldout` / `gutenberg-seen`: the bundled Project Gutenberg chunks (data/gutenberg/), prepared
 *   as the paper prepares PG-19 (second half of the sentences, truncated to maxLength, BOS counted). The
 *   heldout books were not in the gutenberg-llama training data; the seen books were. `path` may point to
 *   another chunk file of the same format.
 * - `random-words`: the paper's random word sequences from the bundled GloVe top-100k word list (`path`
 *   may point to another word list); `length` is each sample's drawn L.
 * - `file`: a user CSV / JSONL file (`path` required, `column` default "text"); each row's text is
 *   tokenized and truncated to maxLength as is (no second-half rule: the user chose the text).
 * Options: `keep_newlines` (Gutenberg kinds) keeps the chunks' original line breaks instead of the paper's
 * whitespace normalisation (recorded under its own source name, `<kind>-newlines`); `encoding` (utf8 or latin1) says how
 * to read the file at `path` (bytes that are not UTF-8 are refused otherwise).
 * Everything is deterministic: natural and file sources take the first `count` entries in file order;
 * random words are seeded by `seed`.
 */
import { basename, join } from 'node:path';
import { PROJECT_ROOT } from '../paths/index.ts';
import type { TextEncodingName } from '../files.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
import { naturalTexts, readChunks } from './natural-text.ts';
import { randomWordTexts, readVocabulary } from './random-words.ts';
import { readUserTexts } from './user-file.ts';

export type SourceKind = 'gutenberg-heldout' | 'gutenberg-seen' | 'random-words' | 'file';

export type SourceSpec = {
  kind: SourceKind;
  /** Chunk file, word list or user file; defaults to the bundled data (required for `file`). */
  path?: string;
  /** Text column / field of a user file (default "text"). */
  column?: string;
  /** Name recorded as `source` (default: the kind, `<kind>-newlines` with keep_newlines, or `file:<basename>`). */
  name?: string;
  /** Gutenberg kinds: keep the original line breaks (default: whitespace-normalised, as the paper). */
  keep_newlines?: boolean;
  /** How the file at `path` is encoded (default utf8, strictly). */
  encoding?: TextEncodingName;
};

export type SourceText = {
  source: string;
  index: number;
  /** Token ids (BOS first where the tokenizer adds one), at most maxLength of them. */
  ids: number[];
  /** The untruncated text the ids were made from. */
  text: string;
  /** For random words, the sampled length L. */
  length?: number;
};

export interface SourceOptions {
  count: number;
  maxLength: number;
  /** Seed for random words (ignored by the other kinds). Default 0. */
  seed?: string | number;
  /** Called now and then while texts are tokenized (planning many texts takes a while). */
  onProgress?: (done: number, total: number) => void;
}

export const BUNDLED_DATA_DIR = join(PROJECT_ROOT, 'data');
export const BUNDLED_CHUNKS = {
  'gutenberg-heldout': join(BUNDLED_DATA_DIR, 'gutenberg', 'heldout-chunks.jsonl'),
  'gutenberg-seen': join(BUNDLED_DATA_DIR, 'gutenberg', 'seen-chunks.jsonl'),
} as const;
export const BUNDLED_VOCABULARY = join(BUNDLED_DATA_DIR, 'vocab', 'glove-6b-top100k.txt');

export function sourceName(spec: SourceSpec): string {
  if (spec.name) return spec.name;
  if (spec.kind === 'file') return `file:${spec.path ? basename(spec.path) : '?'}`;
  return spec.keep_newlines ? `${spec.kind}-newlines` : spec.kind;
}

export function loadSourceTexts(spec: SourceSpec, tokenizer: TextTokenizer, opts: SourceOptions): SourceText[] {
  const { count, maxLength, seed = 0, onProgress } = opts;
  const source = sourceName(spec);
  switch (spec.kind) {
    case 'gutenberg-heldout':
    case 'gutenberg-seen': {
      const file = spec.path ?? BUNDLED_CHUNKS[spec.kind];
      const chunks = readChunks(file, spec.encoding);
      return naturalTexts(chunks, tokenizer, count, maxLength, {
        keepNewlines: spec.keep_newlines,
        where: file,
        onProgress,
      }).map((t) => ({ source, index: t.index, ids: t.ids, text: t.text }));
    }
    case 'random-words': {
      const vocabulary = readVocabulary(spec.path ?? BUNDLED_VOCABULARY, spec.encoding);
      return randomWordTexts(vocabulary, tokenizer, { count, maxLength, seed, onProgress }).map((t) => ({
        source,
        index: t.index,
        ids: t.ids,
        text: t.text,
        length: t.length,
      }));
    }
    case 'file': {
      if (!spec.path) throw new Error('a "file" source needs a path to a .csv or .jsonl file');
      if (!Number.isInteger(count) || count < 1) throw new Error(`count must be a positive integer, got ${count}`);
      if (!Number.isInteger(maxLength) || maxLength < 1)
        throw new Error(`maxLength must be a positive integer, got ${maxLength}`);
      const rows = readUserTexts(spec.path, spec.column ?? 'text', spec.encoding);
      if (count > rows.length)
        throw new Error(`${spec.path}: asked for ${count} texts but the file has ${rows.length}`);
      return rows.slice(0, count).map((r, i) => {
        onProgress?.(i + 1, count);
        return { source, index: r.index, ids: tokenizer.encode(r.text).slice(0, maxLength), text: r.text };
      });
    }
    default: {
      const kind: never = spec.kind;
      throw new Error(`unknown source kind ${JSON.stringify(kind)}`);
    }
  }
}

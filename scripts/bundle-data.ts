/**
 * Developer script: build the small bundled data set under data/ from the shared corpora.
 *
 *   npx tsx scripts/bundle-data.ts [SHARED_DATA_DIR]     (default /work/shared/data)
 *
 * Writes
 * - data/gutenberg/heldout-chunks.jsonl, data/gutenberg/seen-chunks.jsonl: one chunk per book, in book order,
 *   `{"id": "<source>-<bookIndex>", "author", "title", "text", "text_lines"}`. Each chunk is a seeded-random
 *   contiguous span of whole sentences (src/data/sentences.ts) of the whitespace-normalised book, 12,000–16,000
 *   characters long, starting at a sentence boundary at or after the first 5% of the book (skipping front matter).
 *   `text_lines` is the same span of the book with its original whitespace (line breaks; CR LF written as LF):
 *   whitespace-normalising it gives `text` exactly (checked here).
 * - data/vocab/glove-6b-top100k.txt: an unchanged copy of the shared word list.
 * The output depends only on the input files and SEED below, so rerunning it reproduces the same bytes.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { PROJECT_ROOT } from '../src/paths/index.ts';
import { normalizeWhitespace, splitSentences } from '../src/data/sentences.ts';

const SEED = 'cramming-bundle-v1';
const MIN_CHARS = 12_000;
const MAX_CHARS = 16_000;
const SKIP_FRACTION = 0.05;
const MAX_TRIES = 200;

interface Book {
  author: string;
  title: string;
  text: string;
}

/**
 * `normalizeWhitespace(text)` and, for each of its characters, where it came from in `text` (a collapsed whitespace
 * run maps to the run's first character).
 */
function normalizeWithOrigin(text: string): { normalized: string; origin: number[] } {
  const chars: string[] = [];
  const origin: number[] = [];
  const ws = (c: string) => /\s/u.test(c);
  let i = 0;
  while (i < text.length && ws(text[i])) i++;
  while (i < text.length) {
    if (ws(text[i])) {
      let j = i;
      while (j < text.length && ws(text[j])) j++;
      if (j < text.length) {
        chars.push(' ');
        origin.push(i);
      }
      i = j;
    } else {
      chars.push(text[i]);
      origin.push(i);
      i++;
    }
  }
  const normalized = chars.join('');
  if (normalized !== normalizeWhitespace(text))
    throw new Error('normalizeWithOrigin disagrees with normalizeWhitespace');
  return { normalized, origin };
}

/** The chunk of `text` (normalised) and the same span with the book's own whitespace. */
export function pickChunkWithLines(text: string, rng: () => number): { text: string; lines: string } {
  const chunk = pickChunk(text, rng);
  const { normalized, origin } = normalizeWithOrigin(text);
  const start = normalized.indexOf(chunk);
  if (start < 0) throw new Error('chunk not found in the normalised book');
  const lines = text.slice(origin[start], origin[start + chunk.length - 1] + 1).replace(/\r\n?/g, '\n');
  if (normalizeWhitespace(lines) !== chunk) throw new Error('the line-broken span does not normalise to the chunk');
  return { text: chunk, lines };
}

/** A span of whole sentences of MIN_CHARS..MAX_CHARS characters, chosen with `rng`. */
export function pickChunk(text: string, rng: () => number): string {
  const normalized = normalizeWhitespace(text);
  const sentences = splitSentences(normalized);
  // start offset of each sentence in `normalized` (sentences are separated by one space)
  const starts: number[] = [];
  let pos = 0;
  for (const s of sentences) {
    starts.push(pos);
    pos += s.length + 1;
  }
  const skip = Math.floor(normalized.length * SKIP_FRACTION);
  const first = starts.findIndex((s) => s >= skip);
  if (first < 0) throw new Error('book too short');
  const spanLength = (a: number, b: number) => starts[b] + sentences[b].length - starts[a]; // sentences a..b inclusive
  let best: { a: number; b: number; len: number } | null = null;
  for (let t = 0; t < MAX_TRIES; t++) {
    const target = MIN_CHARS + Math.floor(rng() * (MAX_CHARS - MIN_CHARS + 1));
    const a = first + Math.floor(rng() * (sentences.length - first));
    let b = a;
    while (b + 1 < sentences.length && spanLength(a, b) < target) b++;
    const len = spanLength(a, b);
    if (len >= MIN_CHARS && len <= MAX_CHARS) return normalized.slice(starts[a], starts[a] + len);
    // remember the closest miss in case no try lands in range (very short books, giant sentences)
    const miss = len < MIN_CHARS ? MIN_CHARS - len : len - MAX_CHARS;
    if (best === null || miss < (best.len < MIN_CHARS ? MIN_CHARS - best.len : best.len - MAX_CHARS))
      best = { a, b, len };
  }
  if (best === null) throw new Error('no chunk');
  return normalized.slice(starts[best.a], starts[best.a] + best.len);
}

function readBooks(path: string): Book[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const b = JSON.parse(l) as Book;
      if (typeof b.text !== 'string') throw new Error(`${path}:${i + 1}: no text`);
      return b;
    });
}

function main(): void {
  const shared = process.argv[2] ?? '/work/shared/data';
  const outDir = join(PROJECT_ROOT, 'data');
  mkdirSync(join(outDir, 'gutenberg'), { recursive: true });
  mkdirSync(join(outDir, 'vocab'), { recursive: true });
  for (const source of ['heldout', 'seen'] as const) {
    const books = readBooks(join(shared, 'gutenberg', `${source}.jsonl`));
    const lines = books.map((book, i) => {
      const { text, lines: textLines } = pickChunkWithLines(book.text, seedrandom(`${SEED}:${source}:${i}`));
      if (text.length < MIN_CHARS || text.length > MAX_CHARS) {
        console.warn(
          `${source}-${i} (${book.title}): chunk has ${text.length} characters, outside ${MIN_CHARS}..${MAX_CHARS}`,
        );
      }
      return JSON.stringify({
        id: `${source}-${i}`,
        author: normalizeWhitespace(book.author ?? ''),
        title: normalizeWhitespace(book.title ?? ''),
        text,
        text_lines: textLines,
      });
    });
    const out = join(outDir, 'gutenberg', `${source}-chunks.jsonl`);
    writeFileSync(out, lines.join('\n') + '\n');
    console.log(`${out}: ${lines.length} chunks`);
  }
  const vocabOut = join(outDir, 'vocab', 'glove-6b-top100k.txt');
  // copy the bytes (not the source's read-only mode, so that a rerun can overwrite it)
  const vocab = readFileSync(join(shared, 'vocab', 'glove-6b-top100k.txt'));
  rmSync(vocabOut, { force: true });
  writeFileSync(vocabOut, vocab, { mode: 0o644 });
  console.log(`${vocabOut}: copied`);
}

main();

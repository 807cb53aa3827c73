/**
 * A small rule-based sentence splitter, standing in for the paper's `nltk.sent_tokenize` (Punkt).
 *
 * No pure-JS, dependency-free splitter was worth pulling in (npm `sbd` drags in sanitize-html), so this
 * follows the Punkt behaviour that matters for prose:
 * - whitespace is normalised first (runs of whitespace become one space, ends trimmed);
 * - a sentence ends after a run of `.`, `!` or `?`, optionally followed by closing quotes or brackets,
 *   when whitespace follows and the next text starts with an uppercase letter, a digit, or an opening
 *   quote, bracket or `_` (Project Gutenberg marks italics as `_word_`);
 * - a `.` does not end a sentence after a known abbreviation (Mr., Mrs., Dr., St., etc., e.g., vol., …),
 *   nor after No., Art., Fig. when a number follows ("No. 5"; alone, "No." is usually a whole sentence),
 *   or after a single-letter initial ("J. Smith"; this also keeps "Chapter I. The ..." together).
 *
 * It is deterministic and good enough to pick sentence-aligned spans and to apply the paper's "keep the
 * second half of the sentences" rule; it is not a linguistic tool. Sentences are returned without the
 * whitespace between them, so `splitSentences(t).join(' ')` equals the normalised text.
 */

/** Lower-case abbreviations (without the final dot) after which a `.` does not end a sentence. */
export const ABBREVIATIONS: ReadonlySet<string> = new Set([
  // titles and forms of address
  'mr',
  'mrs',
  'ms',
  'messrs',
  'mme',
  'mlle',
  'dr',
  'prof',
  'rev',
  'hon',
  'sr',
  'jr',
  'st',
  'ste',
  'esq',
  'capt',
  'col',
  'gen',
  'lt',
  'maj',
  'sgt',
  'cpl',
  'adm',
  'cmdr',
  'gov',
  'pres',
  'sen',
  'rep',
  'supt',
  'fr',
  'bros',
  'co',
  'corp',
  'inc',
  'ltd',
  // Latin and reference abbreviations
  'etc',
  'e.g',
  'i.e',
  'viz',
  'vs',
  'cf',
  'al',
  'ibid',
  'op',
  'cit',
  'ca',
  'approx',
  'ed',
  'eds',
  'trans',
  'vol',
  'vols',
  'ch',
  'chap',
  'pp',
  'figs',
  'sect',
  'ult',
  'inst',
  'prox',
  // places and addresses
  'mt',
  'ft',
  'ave',
  'rd',
  'blvd',
  'n.b',
  'u.s',
  'u.k',
  // months and days, leaving out those that are also English words (mar, sat, sun, wed, ...)
  'jan',
  'feb',
  'apr',
  'jun',
  'jul',
  'aug',
  'sep',
  'sept',
  'oct',
  'nov',
  'dec',
  'tue',
  'tues',
  'thu',
  'thur',
  'thurs',
  'fri',
  // a.m. / p.m., a.d. / b.c. (the splitter sees the text before the last dot)
  'a.m',
  'p.m',
  'a.d',
  'b.c',
]);

/** Abbreviations that are also common sentence-final words: they hold only before a number ("No. 5", "Art. 12"). */
export const NUMBER_ABBREVIATIONS: ReadonlySet<string> = new Set(['no', 'nos', 'fig', 'art']);

/** Runs of whitespace become one space; the ends are trimmed. */
export function normalizeWhitespace(text: string): string {
  return text.replace(/\s+/gu, ' ').trim();
}

// Terminator run, optional closers, then the whitespace that separates sentences.
const BOUNDARY = /([.!?]+)(["'\u201d\u2019)\]_]*)(\s+)/gu;
// What may start the next sentence.
const NEXT_START = /^["'\u201c\u2018(\[_]*[\p{Lu}\p{N}]|^["'\u201c\u2018(\[]/u;

/** Split prose into sentences (see the module comment for the rules). */
export function splitSentences(text: string): string[] {
  const t = normalizeWhitespace(text);
  return sentenceSpans(t).map(([a, b]) => t.slice(a, b));
}

/**
 * [start, end) of every sentence of `text` taken as it is (line breaks and runs of spaces kept). The rules only look at
 * "a whitespace run" and the characters around it, so the sentences found here are the ones `splitSentences` finds in
 * the whitespace-normalised text: the same boundaries, with the original whitespace between them.
 */
export function sentenceSpans(text: string): [number, number][] {
  let start = text.search(/\S/u);
  if (start < 0) return [];
  const last = text.length - (text.length - text.trimEnd().length);
  const out: [number, number][] = [];
  const re = new RegExp(BOUNDARY.source, BOUNDARY.flags);
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m.index < start) continue;
    const end = m.index + m[1].length + m[2].length; // sentence end, before the whitespace
    const next = m.index + m[0].length;
    if (next >= last) break;
    if (!NEXT_START.test(text.slice(next, next + 8))) continue;
    if (m[1] === '.' && isAbbreviation(text, m.index, /^\p{N}/u.test(text[next]))) continue;
    out.push([start, end]);
    start = next;
  }
  if (start < last) out.push([start, last]);
  return out;
}

/** True when the word that ends at `dot` (the index of a single `.`) is an abbreviation or an initial. */
function isAbbreviation(t: string, dot: number, numberFollows: boolean): boolean {
  let i = dot;
  while (i > 0 && !/[\s"'\u201c\u2018(\[_]/u.test(t[i - 1])) i--;
  const word = t.slice(i, dot);
  if (word === '') return false;
  // a single letter: an initial, as in "J. R. Smith" or "Fig. A."
  if (/^\p{L}$/u.test(word)) return true;
  const w = word.toLowerCase();
  return ABBREVIATIONS.has(w) || (numberFollows && NUMBER_ABBREVIATIONS.has(w));
}

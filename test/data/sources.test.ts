import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HfTokenizer } from '../../src/tokenizer/hf-tokenizer.ts';
import { splitSentences } from '../../src/data/sentences.ts';
import { naturalTexts, readChunks, secondHalf } from '../../src/data/natural-text.ts';
import { randomWordTexts, readVocabulary } from '../../src/data/random-words.ts';
import { BUNDLED_CHUNKS, BUNDLED_VOCABULARY, loadSourceTexts } from '../../src/data/sources.ts';
import { readUserTexts } from '../../src/data/user-file.ts';
import { bundled } from '../helpers.ts';

const tokenizer = HfTokenizer.fromDir(bundled('gutenberg-llama-s'));
const tmp = mkdtempSync(join(tmpdir(), 'cram-data-test-'));

test('sentence splitting keeps abbreviations and initials together', () => {
  const s = splitSentences(
    'Mr. Smith met Dr. Watson at St. Paul\'s,   near the river.\nThey talked. "Is it far?" asked J. R. Jones. ' +
      'Yes! It was 3 miles etc. and more. (A note.) _Italic_ start.',
  );
  assert.deepEqual(s, [
    "Mr. Smith met Dr. Watson at St. Paul's, near the river.",
    'They talked.',
    '"Is it far?" asked J. R. Jones.',
    'Yes!',
    'It was 3 miles etc. and more.',
    '(A note.)',
    '_Italic_ start.',
  ]);
  // words that look like abbreviations but end sentences; No. before a number does not
  assert.deepEqual(splitSentences('They sat. No. It was No. 5 of them. Thou art. Go.'), [
    'They sat.',
    'No.',
    'It was No. 5 of them.',
    'Thou art.',
    'Go.',
  ]);
  assert.deepEqual(splitSentences('  '), []);
  assert.deepEqual(splitSentences('no final stop'), ['no final stop']);
});

test('second-half rule keeps sentences.slice(floor(n/2)) joined by spaces', () => {
  const five = 'One is here. Two is here. Three is here. Four is here. Five is here.';
  assert.equal(secondHalf(five), 'Three is here. Four is here. Five is here.');
  const four = 'Mrs. Hall sat.\n\nShe read. He wrote. They left.';
  assert.equal(secondHalf(four), 'He wrote. They left.');
  assert.equal(secondHalf('Only one.'), 'Only one.');
});

test('natural texts start with BOS and shorter lengths are prefixes of longer ones', () => {
  assert.equal(tokenizer.bosId, 0);
  const chunks = readChunks(BUNDLED_CHUNKS['gutenberg-heldout']).slice(0, 4);
  const short = naturalTexts(chunks, tokenizer, 3, 16);
  const long = naturalTexts(chunks, tokenizer, 3, 256);
  assert.equal(short.length, 3);
  for (let i = 0; i < 3; i++) {
    assert.equal(short[i].ids[0], tokenizer.bosId);
    assert.equal(short[i].ids.length, 16);
    assert.equal(long[i].ids.length, 256);
    assert.equal(short[i].truncated, true);
    assert.deepEqual(long[i].ids.slice(0, 16), short[i].ids);
    assert.equal(short[i].text, long[i].text);
    assert.equal(short[i].id, `heldout-${i}`);
  }
  // a text shorter than maxLength is returned whole, not padded
  const tiny = naturalTexts([{ id: 'x', author: '', title: '', text: 'A cat sat. It slept.' }], tokenizer, 1, 1000);
  assert.equal(tiny[0].truncated, false);
  assert.equal(tiny[0].length, tiny[0].ids.length);
  assert.deepEqual(tiny[0].ids, tokenizer.encode('It slept.'));
  assert.throws(() => naturalTexts(chunks, tokenizer, 5, 16), /only 4 chunks/);
});

test('random words: lengths in 2..max, reproducible per seed, words from the vocabulary', () => {
  const vocab = readVocabulary(BUNDLED_VOCABULARY);
  assert.equal(vocab.length, 100_000);
  const vocabSet = new Set(vocab);
  const a = randomWordTexts(vocab, tokenizer, { count: 12, maxLength: 40, seed: 7 });
  const b = randomWordTexts(vocab, tokenizer, { count: 12, maxLength: 40, seed: 7 });
  const c = randomWordTexts(vocab, tokenizer, { count: 12, maxLength: 40, seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(
    a.map((x) => x.length),
    c.map((x) => x.length),
  );
  assert.notEqual(a[0].text, c[0].text);
  for (const x of a) {
    assert.ok(x.length >= 2 && x.length <= 40, `length ${x.length}`);
    assert.equal(x.ids.length, x.length);
    assert.equal(x.ids[0], tokenizer.bosId);
    const words = x.text.split(' ');
    assert.equal(words.length, x.length * 5);
    for (const w of words) assert.ok(vocabSet.has(w), `word ${w}`);
  }
  // sample i does not depend on how many samples were asked for
  assert.deepEqual(randomWordTexts(vocab, tokenizer, { count: 3, maxLength: 40, seed: 7 }), a.slice(0, 3));
  // the extremes of the range are reachable: with maxLength 3 both 2 and 3 occur
  const tiny = randomWordTexts(vocab, tokenizer, { count: 40, maxLength: 3, seed: 'x' });
  assert.deepEqual([...new Set(tiny.map((x) => x.length))].sort(), [2, 3]);
  // through the entry point
  const s = loadSourceTexts({ kind: 'random-words' }, tokenizer, { count: 3, maxLength: 40, seed: 7 });
  assert.deepEqual(
    s.map((x) => x.length),
    a.slice(0, 3).map((x) => x.length),
  );
  assert.equal(s[0].source, 'random-words');
});

test('user CSV and JSONL files load; missing column and bad lines give clear errors', () => {
  const csv = join(tmp, 'texts.csv');
  writeFileSync(csv, 'id,body\n1,"Hello there, world."\n2,"A second\ntext, on two lines."\n3,Third\n');
  const rows = readUserTexts(csv, 'body');
  assert.deepEqual(
    rows.map((r) => r.text),
    ['Hello there, world.', 'A second\ntext, on two lines.', 'Third'],
  );
  assert.deepEqual(
    rows.map((r) => r.line),
    [2, 3, 5],
  );
  assert.throws(
    () => readUserTexts(csv),
    (e: Error) => e.message.includes(csv) && /no column "text"/.test(e.message) && /"body"/.test(e.message),
  );

  const viaSource = loadSourceTexts({ kind: 'file', path: csv, column: 'body' }, tokenizer, { count: 2, maxLength: 3 });
  assert.equal(viaSource.length, 2);
  assert.equal(viaSource[0].source, 'file:texts.csv');
  assert.equal(viaSource[0].ids[0], tokenizer.bosId);
  assert.ok(viaSource[0].ids.length <= 3);
  assert.throws(
    () => loadSourceTexts({ kind: 'file', path: csv, column: 'body' }, tokenizer, { count: 9, maxLength: 3 }),
    /has 3/,
  );

  const jsonl = join(tmp, 'texts.jsonl');
  writeFileSync(jsonl, '{"text": "First text."}\n\n{"text": "Second text.", "x": 1}\n');
  assert.deepEqual(
    readUserTexts(jsonl).map((r) => [r.line, r.text]),
    [
      [1, 'First text.'],
      [3, 'Second text.'],
    ],
  );
  const named = loadSourceTexts({ kind: 'file', path: jsonl, name: 'mine' }, tokenizer, { count: 2, maxLength: 64 });
  assert.deepEqual(named[1].ids, tokenizer.encode('Second text.'));
  assert.equal(named[1].source, 'mine');

  const missing = join(tmp, 'missing.jsonl');
  writeFileSync(missing, '{"text": "ok"}\n{"body": "no text field"}\n');
  assert.throws(
    () => readUserTexts(missing),
    (e: Error) => e.message.startsWith(`${missing}:2:`) && /no field "text"/.test(e.message),
  );
  const bad = join(tmp, 'bad.jsonl');
  writeFileSync(bad, '{"text": "ok"}\n{"text": broken\n');
  assert.throws(
    () => readUserTexts(bad),
    (e: Error) => e.message.startsWith(`${bad}:2:`) && /not valid JSON/.test(e.message),
  );
  const empty = join(tmp, 'empty.csv');
  writeFileSync(empty, '\n');
  assert.throws(() => readUserTexts(empty), /empty/);
  assert.throws(() => readUserTexts(join(tmp, 'nope.csv')), /cannot read/);
  assert.throws(() => loadSourceTexts({ kind: 'file' }, tokenizer, { count: 1, maxLength: 8 }), /needs a path/);
});

test('bundled heldout and seen files hold 64 chunks of 12,000-16,000 characters', () => {
  for (const kind of ['gutenberg-heldout', 'gutenberg-seen'] as const) {
    const chunks = readChunks(BUNDLED_CHUNKS[kind]);
    assert.equal(chunks.length, 64, kind);
    const prefix = kind === 'gutenberg-heldout' ? 'heldout' : 'seen';
    chunks.forEach((c, i) => {
      assert.equal(c.id, `${prefix}-${i}`);
      assert.ok(c.text.length >= 12_000 && c.text.length <= 16_000, `${c.id}: ${c.text.length} chars`);
      assert.ok(!/\s\s|\n/.test(c.text), `${c.id} is whitespace-normalised`);
      assert.ok(c.title.length > 0);
    });
  }
  const seen = loadSourceTexts({ kind: 'gutenberg-seen' }, tokenizer, { count: 2, maxLength: 32 });
  assert.deepEqual(
    seen.map((s) => [s.source, s.index, s.ids.length, s.ids[0]]),
    [
      ['gutenberg-seen', 0, 32, 0],
      ['gutenberg-seen', 1, 32, 0],
    ],
  );
});

test("keep_newlines: the same sentences with the books' line breaks, under their own source name", async () => {
  const { describeModel, loadTokenizer } = await import('../../src/run/model-info.ts');
  const { loadSourceTexts, sourceName } = await import('../../src/data/sources.ts');
  const { normalizeWhitespace } = await import('../../src/data/sentences.ts');
  const tok = loadTokenizer(describeModel('gutenberg-llama-s'));
  const plain = loadSourceTexts({ kind: 'gutenberg-heldout' }, tok, { count: 5, maxLength: 4096 });
  const lines = loadSourceTexts({ kind: 'gutenberg-heldout', keep_newlines: true }, tok, { count: 5, maxLength: 4096 });
  assert.equal(sourceName({ kind: 'gutenberg-heldout', keep_newlines: true }), 'gutenberg-heldout-newlines');
  for (let i = 0; i < 5; i++) {
    assert.ok(lines[i].text.includes('\n'), `text ${i} keeps line breaks`);
    assert.equal(normalizeWhitespace(lines[i].text), plain[i].text, `text ${i}: the same sentences`);
    assert.ok(!plain[i].text.includes('\n'), 'the default is whitespace-normalised');
    assert.notDeepEqual(lines[i].ids.slice(0, 64), plain[i].ids.slice(0, 64));
  }
});

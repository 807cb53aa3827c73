/**
 * `.mem` / `.ac` files name their model by identity and never choose a folder on disk (issue 26, items 1 and 7);
 * mismatch messages say what differs; odd `.ac` headers get one line naming the field, not a TypeError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AC_MAGIC, parseAc, serializeAc, type AcHeader } from '../../src/compress/ac.ts';
import { FileModelError, identityMismatch, modelForFile } from '../../src/compress/file-model.ts';
import { bundled } from '../helpers.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

test('a model taken from a file is a bundled name, never a path; --model is what the user points to', () => {
  const work = mkdtempSync(join(tmpdir(), 'cram-identity-'));
  try {
    const evil = join(work, 'evil');
    mkdirSync(evil);
    for (const model of [evil, '../evil', './evil', '..', 'models/../evil', 'C:\\evil']) {
      assert.throws(
        () => modelForFile({ model, modelSha256: A, tokenizerSha256: B }, undefined, 'x.mem'),
        (e: Error) =>
          e instanceof FileModelError &&
          /x\.mem names its model by the path .*a file never chooses which folder is loaded: pass --model/.test(
            e.message,
          ),
        model,
      );
    }
    assert.throws(
      () => modelForFile({ model: 'no-such-model', modelSha256: A, tokenizerSha256: B }, undefined, 'x.mem'),
      /x\.mem names its model "no-such-model", which is not a bundled model .*: pass --model <folder or bundled name> \(the model whose weights hash to aaaaaaaaaaaa…\)/,
    );
    assert.throws(
      () => modelForFile({ model: '', modelSha256: A, tokenizerSha256: B }, undefined, 'old.ac'),
      /old\.ac does not name its model .*pass --model/,
    );
    assert.equal(
      modelForFile({ model: 'gutenberg-llama-xs', modelSha256: A, tokenizerSha256: B }, undefined, 'x.mem'),
      bundled('gutenberg-llama-xs').replace(/\/$/, ''),
    );
    assert.equal(modelForFile({ model: '../evil', modelSha256: A, tokenizerSha256: B }, evil, 'x.mem'), evil);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('identity mismatch messages say what differs', () => {
  const file = { model: 'gutenberg-llama-s', modelSha256: A, tokenizerSha256: B };
  assert.equal(identityMismatch('.mem file', file, { ...file }), null);
  const sameName = identityMismatch('.mem file', file, { ...file, modelSha256: C })!;
  assert.match(sameName, /same name, different weights fingerprint/);
  assert.doesNotMatch(sameName, /not for "gutenberg-llama-s"/);
  assert.match(
    identityMismatch('.mem file', file, { model: 'other', modelSha256: C, tokenizerSha256: B })!,
    /made for model "gutenberg-llama-s" \(weights aaaaaaaaaaaa…\), not for "other" \(weights cccccccccccc…\)/,
  );
  assert.match(
    identityMismatch('.ac file', file, { ...file, tokenizerSha256: C })!,
    /tokenizer bbbbbbbbbbbb… .*\(same weights\) has tokenizer cccccccccccc…/,
  );
});

function acBytes(header: unknown, payload = Buffer.alloc(4)): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  return Buffer.concat([AC_MAGIC, len, json, payload]);
}

test('odd .ac headers are refused with one line naming the field', () => {
  const good: AcHeader = {
    format: 'cramming-ac',
    version: 1,
    model: 'gutenberg-llama-s',
    model_sha256: A,
    tokenizer_sha256: B,
    n_tokens: 5,
    first_token: null,
    text_chars: 20,
    text_sha256: C,
    bits: 20,
    backend: 'cpu',
  };
  assert.equal(parseAc(serializeAc({ header: good, payload: Buffer.alloc(4) }), 'g.ac').header.n_tokens, 5);
  const cases: [unknown, RegExp][] = [
    [null, /o\.ac: header is not a JSON object/],
    [[1, 2], /o\.ac: header is not a JSON object/],
    [{ ...good, model_sha256: 5 }, /o\.ac: header field "model_sha256" is not a SHA-256 hex digest/],
    [{ ...good, model: { path: '/' } }, /o\.ac: header field "model" should be a model name/],
    [{ ...good, n_tokens: 'many' }, /o\.ac: header field "n_tokens" "many" is not an integer/],
    [{ ...good, n_tokens: -1 }, /o\.ac: header field "n_tokens" -1 is not an integer/],
    [{ ...good, n_tokens: 1e300 }, /o\.ac: header field "n_tokens" 1e\+300 is not an integer/],
    [{ ...good, text_chars: 1e9 }, /o\.ac: header field "text_chars" 1000000000 is not an integer in 0…6144/],
    [{ ...good, bits: 1000 }, /o\.ac: header field "bits" 1000 is not an integer in 0…32/],
    [{ ...good, first_token: -3 }, /o\.ac: header field "first_token" -3 should be a token id or null/],
    [{ ...good, first_token: 'x' }, /o\.ac: header field "first_token" "x" should be a token id or null/],
    [{ ...good, backend: null }, /o\.ac: header field "backend" should be a string/],
    [{ ...good, version: 2 }, /o\.ac: unsupported format "cramming-ac" version 2/],
  ];
  for (const [header, message] of cases) {
    assert.throws(
      () => parseAc(acBytes(header), 'o.ac'),
      (e: Error) => !(e instanceof TypeError) && message.test(e.message),
      JSON.stringify(header),
    );
  }
});

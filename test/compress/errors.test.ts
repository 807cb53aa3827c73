import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bundled, fixture, open } from '../helpers.ts';
import { serializeSafetensors } from '../../src/models/safetensors.ts';
import { compress, decompress, embedWithMemory } from '../../src/compress/compress.ts';
import {
  parseMemoryFile,
  serializeMemoryFile,
  MemoryFileError,
  type MemoryFile,
} from '../../src/compress/memory-file.ts';
import { syntheticMemoryFile } from './synthetic.ts';

const small = await open(bundled('gutenberg-llama-s'));
const tok = small.tokenizer!;
// 24 tokens of the held-out passage, as a string the tokenizer reproduces exactly.
const text = tok.decode(tok.encode(readFileSync(fixture('heldout-passage.txt'), 'utf8')).slice(0, 25));
let mf: MemoryFile;

test('a short text compresses (3 segments) and comes back exactly', async () => {
  mf = await compress(text, { model: small, segmentTokens: 8, tokensPerVector: 2, seed: 1 });
  assert.equal(mf.segments.length, 3);
  assert.equal(mf.nTokens, 24);
  assert.equal(await decompress(parseMemoryFile(serializeMemoryFile(mf)), { model: small }), text);
});

test("embedWithMemory puts every segment's vectors before the prompt tokens", async () => {
  const prompt = 'The man said';
  const parts = await embedWithMemory(mf, prompt, { model: small });
  assert.equal(parts.length, mf.segments.length + 1);
  mf.segments.forEach((s, i) =>
    assert.deepEqual(Array.from((parts[i] as { vectors: Float32Array }).vectors), Array.from(s.vectors)),
  );
  assert.deepEqual((parts[parts.length - 1] as { ids: number[] }).ids, tok.encode(prompt));
});

test('a file made for another model is refused, naming both models', async () => {
  const xs = await open(bundled('gutenberg-llama-xs'));
  await assert.rejects(
    decompress(mf, { model: xs }),
    /made for model "gutenberg-llama-s".*not for "gutenberg-llama-xs"/,
  );
  await assert.rejects(embedWithMemory(mf, 'x', { model: xs }), /gutenberg-llama-s.*gutenberg-llama-xs/);
  await xs.compiled.release();
});

test('corrupted, truncated and foreign files give clear errors', () => {
  const good = serializeMemoryFile(mf);
  const headerLen = Number(good.readBigUInt64LE(0));
  const flipData = Buffer.from(good);
  flipData[8 + headerLen + 5] ^= 0x40;
  assert.throws(
    () => parseMemoryFile(flipData, 'x.mem'),
    (e: unknown) => e instanceof MemoryFileError && /x\.mem: vector data checksum mismatch.*corrupted/.test(e.message),
  );
  const flipHeader = Buffer.from(good);
  flipHeader[8] ^= 0xff; // the header's opening brace
  assert.throws(
    () => parseMemoryFile(flipHeader, 'x.mem'),
    /x\.mem: not a readable \.mem file: header is not valid JSON/,
  );
  const flipKey = Buffer.from(good);
  flipKey[8 + 3] ^= 0xff; // inside "__metadata__": the metadata becomes a malformed tensor entry
  assert.throws(
    () => parseMemoryFile(flipKey, 'x.mem'),
    /x\.mem: not a readable \.mem file: tensor .* header entry needs dtype/,
  );
  assert.throws(() => parseMemoryFile(good.subarray(0, good.length - 7), 'x.mem'), /truncated/);
  assert.throws(() => parseMemoryFile(good.subarray(0, 8 + headerLen + 4), 'x.mem'), /truncated/);
  assert.throws(() => parseMemoryFile(good.subarray(0, 5), 'x.mem'), /too short.*truncated/);
  assert.throws(() => parseMemoryFile(Buffer.concat([good, Buffer.alloc(4)]), 'x.mem'), /trailing bytes/);
  const foreign = serializeSafetensors(
    { mem: { shape: [1, 4], data: new Float32Array(4) } },
    { format: 'cramming-vectors/1' },
  );
  assert.throws(
    () => parseMemoryFile(foreign, 'v.safetensors'),
    /not a \.mem file: metadata format is "cramming-vectors\/1", expected "cramming-memory"/,
  );
  assert.throws(
    () => parseMemoryFile(readFileSync(new URL('../../package.json', import.meta.url)), 'package.json'),
    /package\.json: not a readable \.mem file/,
  );
  // A hand-edited segment table that no longer matches the tensors.
  const edited = Buffer.from(good.toString('latin1').replace('"n_segments":"3"', '"n_segments":"2"'), 'latin1');
  assert.throws(() => parseMemoryFile(edited, 'x.mem'), /"segments" should be an array of 2 entries/);
  // NaN vectors are refused even when the checksum is recomputed (written by a broken writer, say).
  const nan = syntheticMemoryFile('nan');
  nan.segments[0].vectors[0] = NaN;
  assert.throws(() => serializeMemoryFile(nan), /segment 0: vector value 0 is NaN/);
});

test('a file claiming more tokens than the model has positions is refused before generating', async () => {
  // Within what the vectors could hold (K·d·32), beyond the model's 2048 positions: refused, not generated for ever.
  const long: MemoryFile = {
    ...mf,
    nTokens: mf.nTokens - mf.segments[0].nTokens + 3000,
    segments: mf.segments.map((s, i) => (i === 0 ? { ...s, nTokens: 3000 } : s)),
  };
  const parsed = parseMemoryFile(serializeMemoryFile(long), 'long.mem');
  await assert.rejects(
    decompress(parsed, { model: small }),
    /segment 0 needs \d+ vectors \+ 3001 tokens = \d+ positions, but "gutenberg-llama-s" takes 2048/,
  );
});

test('a tampered text hash or tampered vectors never decompress silently', async () => {
  const badHash = parseMemoryFile(serializeMemoryFile({ ...mf, textSha256: 'f'.repeat(64) }));
  await assert.rejects(decompress(badHash, { model: small }), /does not match the stored SHA-256/);
  // Segment 1 gets segment 0's vectors (a consistent file: the checksum is recomputed on write).
  const swapped: MemoryFile = {
    ...mf,
    segments: mf.segments.map((s, i) =>
      i === 1 ? { ...s, nMem: mf.segments[0].nMem, vectors: mf.segments[0].vectors } : s,
    ),
  };
  await assert.rejects(
    decompress(parseMemoryFile(serializeMemoryFile(swapped)), { model: small }),
    /segment 1 did not regenerate the tokens it was made from/,
  );
});

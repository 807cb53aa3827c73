/** Loading: config forms, safetensors dtypes and validation, shards, and one clear error per malformed input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync, symlinkSync } from 'node:fs';
import { loadModel, readConfigJson } from '../../src/models/load.ts';
import { configureLlama } from '../../src/models/llama.ts';
import { gptNeox } from '../../src/models/gpt-neox.ts';
import { weightsSha256 } from '../../src/models/fingerprint.ts';
import {
  modelWeightFiles,
  parseSafetensors,
  readModelWeightEntries,
  readSafetensorsEntries,
  serializeSafetensors,
} from '../../src/models/safetensors.ts';
import { greedyGenerate } from '../../src/cram/generate.ts';
import { checkAgainstReference, readReference, verify } from '../../src/cram/verify.ts';
import { bundled, hfFixture, open } from '../helpers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'cram-test-'));

test('config.json in transformers-4 and transformers-5 form normalise alike', () => {
  const v5 = JSON.parse(readFileSync(join(bundled('gutenberg-llama-s'), 'config.json'), 'utf8'));
  const v4 = { ...v5, rope_theta: v5.rope_parameters.rope_theta, torch_dtype: v5.dtype };
  delete v4.rope_parameters;
  delete v4.dtype;
  assert.deepEqual(configureLlama(v4, 'v4'), configureLlama(v5, 'v4'));
  assert.equal(configureLlama(v4, 'v4').rope.theta, 10000);
  const neox = gptNeox.configure(readConfigJson(hfFixture('tiny-gpt-neox/config.json')), 'neox');
  assert.equal(neox.rotaryDim, 4); // 25% of a 16-wide head
  const gqa = configureLlama(readConfigJson(hfFixture('tiny-llama-gqa-untied/config.json')), 'gqa');
  assert.equal(gqa.rope.theta, 500000);
  assert.equal(gqa.numKvHeads, 2);
});

function handMadeHalf(dtype: 'F16' | 'BF16', halves: number[], shape: number[]): Buffer {
  const header = JSON.stringify({ x: { dtype, shape, data_offsets: [0, halves.length * 2] } });
  const buf = Buffer.alloc(8 + header.length + halves.length * 2);
  buf.writeBigUInt64LE(BigInt(header.length));
  buf.write(header, 8);
  halves.forEach((h, i) => buf.writeUInt16LE(h, 8 + header.length + 2 * i));
  return buf;
}

test('safetensors: F32 round trip, F16 and BF16 upcast to float32', () => {
  const data = Float32Array.from([1, -2.5, 3.25, 0]);
  const back = parseSafetensors(serializeSafetensors({ w: { shape: [2, 2], data } }, { k: 'v' }));
  assert.deepEqual(Array.from(back.tensors.get('w')!.data), Array.from(data));
  assert.equal(back.metadata.k, 'v');
  // 1.0, -2.0, 0.5, 65504 (F16 max), subnormal 2^-24
  const f16 = parseSafetensors(handMadeHalf('F16', [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001], [5]));
  assert.deepEqual(Array.from(f16.tensors.get('x')!.data), [1, -2, 0.5, 65504, 2 ** -24]);
  // BF16 is the top half of a float32: 1.0 = 0x3f80, -3.0 = 0xc040
  const bf16 = parseSafetensors(handMadeHalf('BF16', [0x3f80, 0xc040], [2]));
  assert.deepEqual(Array.from(bf16.tensors.get('x')!.data), [1, -3]);
});

test('sharded model.safetensors.index.json loads every shard', () => {
  const dir = tmp();
  const a = { shape: [2], data: Float32Array.from([1, 2]) };
  const b = { shape: [1], data: Float32Array.from([3]) };
  writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), serializeSafetensors({ a }));
  writeFileSync(join(dir, 'model-00002-of-00002.safetensors'), serializeSafetensors({ b }));
  writeFileSync(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
  );
  const entries = readModelWeightEntries(dir);
  assert.deepEqual(entries.map((e) => e.name).sort(), ['a', 'b']);
  assert.deepEqual(entries.find((e) => e.name === 'b')!.length, 4);
  const sha = weightsSha256(modelWeightFiles(dir));
  assert.match(sha, /^[0-9a-f]{64}$/);
  assert.equal(weightsSha256(modelWeightFiles(dir)), sha); // the cached digest
  rmSync(dir, { recursive: true });
});

test('truncated safetensors: one clear error', () => {
  const good = readFileSync(join(hfFixture('tiny-opt'), 'model.safetensors'));
  assert.throws(
    () => parseSafetensors(good.subarray(0, good.length - 100), 'cut.safetensors'),
    /cut\.safetensors: tensor ".*": data_offsets end \d+ is past the end of the data section .*truncated/,
  );
  assert.throws(() => parseSafetensors(good.subarray(0, 5), 'tiny.safetensors'), /too short/);
  assert.throws(
    () => parseSafetensors(good.subarray(0, 200), 'head.safetensors'),
    /header claims \d+ bytes but the file has only 192 .*truncated/,
  );
});

test('header offsets past the end: one clear error', () => {
  const header = JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 1600] } });
  const buf = Buffer.alloc(8 + header.length + 16);
  buf.writeBigUInt64LE(BigInt(header.length));
  buf.write(header, 8);
  assert.throws(
    () => parseSafetensors(buf, 'bad.safetensors'),
    /bad\.safetensors: tensor "w": data_offsets end 1600 is past the end of the data section \(16 bytes/,
  );
  const mismatch = JSON.stringify({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } });
  const buf2 = Buffer.alloc(8 + mismatch.length + 16);
  buf2.writeBigUInt64LE(BigInt(mismatch.length));
  buf2.write(mismatch, 8);
  assert.throws(
    () => parseSafetensors(buf2, 'm.safetensors'),
    /shape \[3\] × F32 needs 12 bytes but data_offsets span 16/,
  );
});

test('overlapping tensor offsets are refused (they would silently alias two weights)', () => {
  const header = JSON.stringify({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
  });
  const buf = Buffer.alloc(8 + header.length + 12);
  buf.writeBigUInt64LE(BigInt(header.length));
  buf.write(header, 8);
  assert.throws(
    () => parseSafetensors(buf, 'overlap.safetensors'),
    /overlap\.safetensors: tensor "b": data_offsets \[4, 12\] overlap the previous tensor, which ends at 8/,
  );
  const dir = tmp();
  writeFileSync(join(dir, 'w.safetensors'), buf);
  assert.throws(() => readSafetensorsEntries(join(dir, 'w.safetensors')), /overlap/);
  rmSync(dir, { recursive: true });
});

test('a model reached through symlinks (as the Hugging Face cache lays out snapshots → blobs) runs and matches its reference', async () => {
  const src = hfFixture('tiny-gpt2');
  const root = tmp();
  mkdirSync(join(root, 'blobs'));
  mkdirSync(join(root, 'snapshots', 'abc'), { recursive: true });
  for (const f of ['config.json', 'model.safetensors', 'reference.json']) {
    cpSync(join(src, f), join(root, 'blobs', `blob-${f}`));
    symlinkSync(join('..', '..', 'blobs', `blob-${f}`), join(root, 'snapshots', 'abc', f));
  }
  const loaded = await open(join(root, 'snapshots', 'abc'), { tokenizer: false });
  const ref = readReference(join(src, 'reference.json'));
  const check = checkAgainstReference(await verify(loaded, loaded.compiled, ref), ref, true);
  assert.ok(check.ok, check.failures.join('; '));
  await loaded.compiled.release();
  rmSync(root, { recursive: true });
});

test('unknown model_type and missing tokenizer: one clear error each', async () => {
  const dir = tmp();
  cpSync(bundled('gutenberg-llama-xs'), dir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'bert' }));
  await assert.rejects(loadModel(dir), /model_type "bert" is not supported; supported: .*gpt2.*llama/);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  rmSync(join(dir, 'tokenizer.json'));
  await assert.rejects(loadModel(dir), /has no tokenizer\.json/);
  await assert.rejects(loadModel(join(dir, 'nope')), /neither a folder nor a bundled model/);
  rmSync(dir, { recursive: true });
});

test('stories260K greedy generation from BOS tells the story about Lily', async () => {
  const { compiled, tokenizer } = await open(bundled('stories260K'));
  const ids = await greedyGenerate(compiled, { parts: [{ ids: [tokenizer!.bosId!] }], maxNew: 16 });
  const text = tokenizer!.decode([tokenizer!.bosId!, ...ids]);
  assert.ok(text.startsWith('Once upon a time, there was a little girl named Lily.'), text);
  await compiled.release();
});

test('Llama-3 "llama3" rope scaling: high frequencies kept, low ones divided by the factor, smooth between', async () => {
  const { ropeInverseFrequencies } = await import('../../src/models/layers.ts');
  const scaling = {
    type: 'llama3' as const,
    factor: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositions: 8192,
  }; // Llama-3.2
  const plain = ropeInverseFrequencies(64, 500000);
  const scaled = ropeInverseFrequencies(64, 500000, scaling);
  const wavelen = (f: number) => (2 * Math.PI) / f;
  for (let i = 0; i < 32; i++) {
    if (wavelen(plain[i]) < 8192 / 4) assert.equal(scaled[i], plain[i]);
    else if (wavelen(plain[i]) > 8192) assert.ok(Math.abs(scaled[i] - plain[i] / 32) <= 1e-7 * plain[i]);
    else assert.ok(scaled[i] < plain[i] && scaled[i] > plain[i] / 32);
  }
  const raw = { ...JSON.parse(readFileSync(hfFixture('tiny-llama-gqa-untied/config.json'), 'utf8')) };
  raw.rope_parameters = {
    rope_type: 'llama3',
    rope_theta: 500000,
    factor: 32,
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 8192,
  };
  assert.deepEqual(configureLlama(raw, 'c').rope.scaling, scaling);
  raw.rope_parameters = { rope_type: 'yarn', rope_theta: 10000 };
  assert.throws(() => configureLlama(raw, 'c'), /rope_type "yarn" is not supported/);
});

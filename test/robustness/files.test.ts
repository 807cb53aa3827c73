/**
 * Damaged, forged or careless input files: each is refused at read with an error naming the
 * file and the cause; nothing here needs the tensor engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMemoryFile, serializeMemoryFile } from '../../src/compress/memory-file.ts';
import { MemoryStore } from '../../src/compress/store.ts';
import { readVectorFile, writeVectorFile } from '../../src/cram/vector-file.ts';
import { readUserTexts } from '../../src/data/user-file.ts';
import { describeModel, loadTokenizer } from '../../src/run/model-info.ts';
import { readTextFile, writeFileAtomic } from '../../src/files.ts';
import { parseSafetensors, serializeSafetensors } from '../../src/models/safetensors.ts';
import { loadModel } from '../../src/models/load.ts';
import { writeCapacityReport } from '../../src/experiments/kinds/capacity/report.ts';
import { syntheticMemoryFile } from '../compress/synthetic.ts';
import { bundled } from '../helpers.ts';
import { syntheticRecords } from '../report/synthetic.ts';

const work = mkdtempSync(join(tmpdir(), 'cram-files-'));
const hex = (c: string) => c.repeat(64);

/** A safetensors buffer with a hand-written header (offsets as given) over `dataBytes` bytes. */
function rawSafetensors(header: Record<string, unknown>, dataBytes: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
}

test('a .mem file claiming more tokens than its vectors can hold is refused at read and by store add', () => {
  const good = serializeMemoryFile(syntheticMemoryFile('forged', 1, 1, 16));
  const { tensors, metadata } = parseSafetensors(good);
  const segs = JSON.parse(metadata.segments);
  segs[0].tokens = 1e9;
  const forged = serializeSafetensors(Object.fromEntries(tensors), {
    ...metadata,
    segments: JSON.stringify(segs),
    n_tokens: String(1e9),
  });
  assert.ok(forged.length < 3000, 'a small file');
  assert.throws(
    () => parseMemoryFile(forged, 'forged.mem'),
    /forged\.mem: segment 0 claims 1000000000 tokens from 1 vector\(s\) of 16 numbers, more than they can hold \(at most 512\)/,
  );
  const db = join(work, 'store.db');
  const store = new MemoryStore({ path: db });
  try {
    assert.throws(() => store.add(forged), /more than they can hold/);
    assert.equal(store.list().length, 0);
  } finally {
    store.close();
  }
  const chars = serializeSafetensors(Object.fromEntries(tensors), { ...metadata, text_chars: String(1e9) });
  assert.throws(() => parseMemoryFile(chars, 'chars.mem'), /text_chars 1000000000 is impossible for 4 tokens/);
});

test('safetensors whose tensors overlap, leave holes or run past the data are refused; NaN values are refused by name', async () => {
  const f = (shape: number[], a: number, b: number) => ({ dtype: 'F32', shape, data_offsets: [a, b] });
  assert.throws(
    () => parseSafetensors(rawSafetensors({ a: f([4], 0, 16), b: f([4], 8, 24) }, 24), 'o.safetensors'),
    /o\.safetensors: tensor "b": data_offsets \[8, 24\] overlap the previous tensor, which ends at 16/,
  );
  assert.throws(
    () => parseSafetensors(rawSafetensors({ a: f([2], 0, 8), b: f([2], 16, 24) }, 24), 'h.safetensors'),
    /h\.safetensors: tensor "b": data_offsets start at 16 but the previous tensor ends at 8/,
  );
  assert.throws(
    () => parseSafetensors(rawSafetensors({ a: f([2], 0, 8) }, 16), 't.safetensors'),
    /cover 8 bytes of a 16-byte data section/,
  );
  // Written in another order than the header lists them is fine as long as they tile the data.
  assert.equal(parseSafetensors(rawSafetensors({ b: f([2], 8, 16), a: f([2], 0, 8) }, 16)).tensors.size, 2);
  const nan = serializeSafetensors({
    'model.layers.0.mlp.up_proj.weight': { shape: [2, 2], data: Float32Array.from([1, 2, NaN, 4]) },
  });
  assert.throws(
    () => parseSafetensors(nan, 'w.safetensors'),
    /w\.safetensors: tensor "model\.layers\.0\.mlp\.up_proj\.weight" holds NaN at index 2/,
  );
  // A model folder with one NaN weight is refused at load, naming the tensor.
  const dir = join(work, 'nan-model');
  mkdirSync(dir);
  const weights = Buffer.from(readFileSync(join(bundled('gutenberg-llama-xs'), 'model.safetensors')));
  const headerLen = Number(weights.readBigUInt64LE(0));
  const header = JSON.parse(weights.subarray(8, 8 + headerLen).toString());
  const [name, entry] = Object.entries(header).find(([k]) => k !== '__metadata__') as [
    string,
    { dtype: string; data_offsets: number[] },
  ];
  assert.equal(entry.dtype, 'BF16');
  weights.writeUInt16LE(0x7fc0, 8 + headerLen + entry.data_offsets[0]); // bf16 NaN
  writeFileSync(join(dir, 'model.safetensors'), weights);
  copyFileSync(join(bundled('gutenberg-llama-xs'), 'config.json'), join(dir, 'config.json'));
  await assert.rejects(
    loadModel(dir, { tokenizer: false }),
    new RegExp(`tensor "${name.replace(/\./g, '\\.')}" holds NaN at index 0`),
  );
});

test('vector files: NaN vectors and metadata of the wrong type are refused precisely', () => {
  const meta = {
    model: 'm',
    model_sha256: hex('a'),
    tokenizer_sha256: hex('b'),
    n_mem: 1,
    embed_dim: 4,
    n_tokens: 5,
    text_sha256: hex('c'),
    ids_sha256: hex('d'),
  };
  const nan = join(work, 'nan.safetensors');
  writeVectorFile(nan, Float32Array.from([0.1, NaN, 0.3, 0.4]), meta);
  assert.throws(() => readVectorFile(nan), /nan\.safetensors: tensor "mem" holds NaN at index 1/);
  const wrong = (patch: Record<string, unknown>, pattern: RegExp) => {
    const file = join(work, 'wrong.safetensors');
    writeFileSync(
      file,
      rawSafetensors(
        {
          __metadata__: {
            format: 'cramming-vectors/1',
            ...Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, String(v)])),
            ...patch,
          },
          mem: { dtype: 'F32', shape: [1, 4], data_offsets: [0, 16] },
        },
        16,
      ),
    );
    assert.throws(() => readVectorFile(file), pattern);
  };
  wrong({ n_mem: 'abc' }, /wrong\.safetensors: metadata "n_mem" is "abc", not a whole number/);
  wrong({ embed_dim: 4 }, /metadata "embed_dim" is the number 4; safetensors metadata values are strings/);
  wrong({ n_mem: '2' }, /"mem" has shape \[1,4\] but the metadata says \[2, 4\]/);
  wrong({ model_sha256: 'xyz' }, /metadata "model_sha256" is "xyz", not a SHA-256 hex digest/);
  wrong({ format: 'other' }, /not a cramming vector file: metadata "format" is "other"/);
});

test('truncated or garbage config.json and tokenizer.json are refused naming the file', () => {
  const dir = join(work, 'model');
  mkdirSync(dir);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join(bundled('gutenberg-llama-xs'), f), join(dir, f));
  const info = describeModel(dir);
  assert.equal(info.maxPositions, 2048);
  const tok = readFileSync(join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'tokenizer.json'), tok.subarray(0, 1000));
  assert.throws(
    () => loadTokenizer(info),
    (e: Error) => e.message.startsWith(`tokenizer ${join(dir, 'tokenizer.json')} is not valid JSON`),
  );
  writeFileSync(join(dir, 'tokenizer.json'), '{"model": 3}');
  assert.throws(
    () => loadTokenizer(info),
    new RegExp(`tokenizer ${join(dir, 'tokenizer.json')} is not a usable Hugging Face tokenizer\\.json`),
  );
  writeFileSync(
    join(dir, 'config.json'),
    readFileSync(join(bundled('gutenberg-llama-xs'), 'config.json')).subarray(0, 50),
  );
  assert.throws(() => describeModel(dir), new RegExp(`model config ${join(dir, 'config.json')} is not valid JSON`));
  writeFileSync(join(dir, 'config.json'), Buffer.from([0, 1, 2, 250, 251, 0, 7]));
  assert.throws(() => describeModel(dir), /is not valid JSON \(the file is not text\)/);
  writeFileSync(join(dir, 'config.json'), '[1, 2]');
  assert.throws(() => describeModel(dir), /should hold a JSON object, not an array/);
});

test('text that is not UTF-8 is refused unless Latin-1 is asked for', () => {
  const file = join(work, 'latin1.csv');
  writeFileSync(file, Buffer.from('text\n"Caf\xe9 au lait, s\'il vous pla\xeet."\n', 'latin1'));
  assert.throws(
    () => readUserTexts(file),
    /latin1\.csv is not valid UTF-8 \(first bad byte 0xe9 at offset 9\).*--encoding latin1/,
  );
  assert.equal(readUserTexts(file, 'text', 'latin1')[0].text, "Café au lait, s'il vous plaît.");
  assert.equal(readTextFile(file, 'latin1').includes('Café'), true);
});

test('a full disk while writing the report leaves the previous report whole (atomic writes)', async () => {
  if (!existsSync('/dev/full')) return;
  const dir = join(work, 'report');
  mkdirSync(dir);
  const records = syntheticRecords({ lengths: [16], nMem: [1], samplesPerLength: 2 });
  await writeCapacityReport(dir, { records });
  const before = readFileSync(join(dir, 'report.md'));
  // The temp file the report is written to first is where the disk is full.
  const { symlinkSync } = await import('node:fs');
  symlinkSync('/dev/full', join(dir, `report.md.tmp-${process.pid}`));
  await assert.rejects(writeCapacityReport(dir, { records: records.slice(0, 1) }), /ENOSPC/);
  assert.deepEqual(readFileSync(join(dir, 'report.md')), before);
  assert.equal(existsSync(join(dir, `report.md.tmp-${process.pid}`)), false);
  // The same helper everywhere: nothing half-written under the final name.
  symlinkSync('/dev/full', join(dir, `x.svg.tmp-${process.pid}`));
  assert.throws(() => writeFileAtomic(join(dir, 'x.svg'), '<svg/>'), /ENOSPC/);
  assert.equal(existsSync(join(dir, 'x.svg')), false);
  rmSync(dir, { recursive: true });
});

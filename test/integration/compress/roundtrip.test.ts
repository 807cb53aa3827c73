import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bundled, fixture, open } from '../../helpers.ts';
import { compress, decompress } from '../../../src/compress/compress.ts';
import { parseMemoryFile, serializeMemoryFile, totalVectors } from '../../../src/compress/memory-file.ts';

test(
  'a 300-token held-out passage compresses into gutenberg-llama-s vectors and decompresses to the identical string',
  { timeout: 600_000 },
  async (t) => {
    const loaded = await open(bundled('gutenberg-llama-s'));
    const tok = loaded.tokenizer!;
    // Exactly 300 tokens after BOS, as a string the tokenizer reproduces exactly.
    const text = tok.decode(tok.encode(readFileSync(fixture('heldout-passage.txt'), 'utf8')).slice(0, 301));
    assert.equal(tok.encode(text).length, 301);
    const t0 = performance.now();
    const mf = await compress(text, { model: loaded, seed: 0 });
    const t1 = performance.now();
    const bytes = serializeMemoryFile(mf);
    const back = await decompress(parseMemoryFile(bytes, 'passage.mem'), { model: loaded });
    const t2 = performance.now();
    assert.equal(back, text);
    const k = totalVectors(mf);
    t.diagnostic(
      `${mf.nTokens} tokens, ${mf.segments.length} segments, ${k} vectors (${(mf.nTokens / k).toFixed(2)} tokens/vector), ${mf.stats.rounds} round(s), ` +
        `K per segment ${[...new Set(mf.segments.map((s) => s.nMem))].join('/')}; .mem ${bytes.length} bytes for ${Buffer.byteLength(text)} text bytes ` +
        `(${(Buffer.byteLength(text) / bytes.length).toFixed(4)} text bytes per .mem byte); compress ${((t1 - t0) / 1000).toFixed(1)}s, decompress ${((t2 - t1) / 1000).toFixed(1)}s`,
    );
    await loaded.compiled.release();
  },
);

/** Model-free .mem files for store and format tests: random vectors, made-up but well-formed hashes. */
import { createHash } from 'node:crypto';
import { MEMORY_FORMAT, MEMORY_FORMAT_VERSION, type MemoryFile } from '../../src/compress/memory-file.ts';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

export function syntheticMemoryFile(label: string, segments = 3, k = 2, d = 16): MemoryFile {
  let x = 0;
  for (const c of label) x = (x * 31 + c.charCodeAt(0)) >>> 0;
  const rand = () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 2 ** 32 - 0.5;
  };
  return {
    format: MEMORY_FORMAT,
    version: MEMORY_FORMAT_VERSION,
    model: 'synthetic',
    modelSha256: hex('model'),
    tokenizerSha256: hex('tokenizer'),
    embedDim: d,
    nTokens: segments * 4,
    textChars: segments * 16,
    textSha256: hex(label),
    segments: Array.from({ length: segments }, (_, i) => ({
      nMem: k,
      nTokens: 4,
      idsSha256: hex(`${label}/${i}`),
      startsWithBos: true,
      firstToken: 0,
      vectors: Float32Array.from({ length: k * d }, rand),
    })),
    settings: { label },
    stats: {},
    created: new Date().toISOString(),
  };
}

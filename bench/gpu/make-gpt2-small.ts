/**
 * Writes a GPT-2-small-shaped Hugging Face folder with random weights (config.json + model.safetensors, float32,
 * 124M parameters = 500 MB). Not needed by the device benchmark (it builds the same weights in memory with
 * `--model random:gpt2-small`); useful to load the same model in transformers or the harness.
 *
 *   npx tsx bench/gpu/make-gpt2-small.ts OUT_DIR [--config gpt2-small|gpt2-tiny]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeSafetensors } from '../../src/models/safetensors.ts';
import type { HostTensor } from '../../src/models/tensor-map.ts';
import { RANDOM_CONFIGS, randomGpt2Weights } from './models.ts';

const args = process.argv.slice(2);
const out = args.find((a) => !a.startsWith('--'));
const ci = args.indexOf('--config');
const name = ci >= 0 ? args[ci + 1] : 'gpt2-small';
if (!out || !RANDOM_CONFIGS[name]) {
  process.stderr.write(`usage: make-gpt2-small.ts OUT_DIR [--config ${Object.keys(RANDOM_CONFIGS).join('|')}]\n`);
  process.exit(2);
}
const raw = RANDOM_CONFIGS[name];
const tensors = randomGpt2Weights(raw);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'config.json'), JSON.stringify({ ...raw, torch_dtype: 'float32', tie_word_embeddings: true }, null, 2) + '\n');
const rec: Record<string, HostTensor> = Object.fromEntries(tensors);
writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(rec, { format: 'pt' }));
const params = [...tensors.values()].reduce((a, t) => a + t.data.length, 0);
process.stderr.write(`wrote ${out}: ${name}, ${(params / 1e6).toFixed(1)}M parameters (random, float32)\n`);

/** Finite differences of the text loss along random directions agree with the autodiff gradient w.r.t. [mem]. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import type { CausalLM } from '../../src/models/causal-lm.ts';
import { normalizeConfig } from '../../src/models/config.ts';
import { buildModel, loadModel } from '../../src/models/load.ts';
import { readModelWeights } from '../../src/models/safetensors.ts';
import { memObjective, memObjectiveAndGrad, padIds } from '../../src/cram/objective.ts';
import { bundled, fixture, ready } from '../helpers.ts';

/**
 * The tiny-hf fixtures have their matrices scaled ×3 (so logits are not flat); undo that here: at ×3 the ReLU of
 * OPT has so many kinks within a finite-difference step that no step size gives a clean derivative.
 */
function tinyRandomModel(name: string): CausalLM {
  const dir = fixture(`tiny-hf/${name}`);
  const { tensors } = readModelWeights(dir);
  for (const [key, t] of tensors) if (t.shape.length === 2 && !key.includes('embed') && !key.includes('wte') && !key.includes('wpe')) t.data.forEach((v, i) => (t.data[i] = v / 3));
  return buildModel(normalizeConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))), tensors);
}

const MODELS: [string, () => Promise<CausalLM>][] = [
  ...['tiny-gpt2', 'tiny-gpt-neox', 'tiny-llama-gqa-untied', 'tiny-opt'].map((n) => [n, async () => tinyRandomModel(n)] as [string, () => Promise<CausalLM>]),
  ['stories260K (interleaved rotary)', async () => (await loadModel(bundled('stories260K'), { tokenizer: false })).model],
];

for (const [name, make] of MODELS) {
  test(`finite differences match the mem gradient: ${name}`, async () => {
    await ready;
    const model = await make();
    const rng = seedrandom('fd');
    const K = 2;
    const d = model.embedDim;
    const ids = Array.from({ length: 12 }, () => Math.floor(rng() * Math.min(500, model.numEmbeddings)));
    const std = model.embeddingStd();
    const memData = Float32Array.from({ length: K * d }, () => (rng() - 0.5) * 4 * std);
    const lossAt = (m: Float32Array) => tf.tidy(() => memObjective(model, tf.tensor3d(m, [1, K, d]), padIds([ids]), [ids.length]).loss.dataSync()[0]);
    const grad = tf.tidy(() => memObjectiveAndGrad(model, tf.tensor3d(memData, [1, K, d]), padIds([ids]), [ids.length]).grad.dataSync());
    for (let trial = 0; trial < 3; trial++) {
      const dir = Float32Array.from({ length: K * d }, () => rng() - 0.5);
      const norm = Math.hypot(...dir);
      dir.forEach((v, i) => (dir[i] = v / norm));
      const analytic = Array.from(grad).reduce((s, g, i) => s + g * dir[i], 0);
      // Five-point central differences in float32 (truncation error O(h⁴)) at a few steps. The loss (~9 nats on
      // random weights) is rounded at ~1e-6, and ReLU (OPT) has kinks, so one step can be spoiled either way; the
      // best step must agree within 3%. A wrong gradient (a missing term, a wrong scale) disagrees at every step.
      const at = (t: number) => lossAt(memData.map((v, i) => v + t * dir[i]));
      const errors = [1e-2, 3e-2, 1e-1].map((rel) => {
        const h = rel * std * Math.sqrt(d);
        return Math.abs((-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h) - analytic);
      });
      const scale = Math.max(Math.abs(analytic), Math.hypot(...grad) * 0.05);
      assert.ok(Math.min(...errors) < 0.03 * scale, `trial ${trial}: analytic ${analytic}, errors ${errors}`);
    }
    model.dispose();
  });
}

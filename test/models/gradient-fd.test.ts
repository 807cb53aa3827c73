/** Finite differences of the text loss along random directions agree with the graph's gradient w.r.t. [mem]. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { parseSafetensors, serializeSafetensors } from '../../src/models/safetensors.ts';
import type { HostTensor } from '../../src/models/tensor-map.ts';
import { bundled, compiled, hfFixture, hfFixtures } from '../helpers.ts';

/**
 * The test/fixtures/hf fixtures have their matrices scaled ×3 (so logits are not flat); undo that in a temporary copy: at ×3
 * the ReLU of OPT has so many kinks within a finite-difference step that no step size gives a clean derivative.
 */
function unscaledCopy(dir: string): string {
  const out = mkdtempSync(join(tmpdir(), 'cram-fd-'));
  copyFileSync(join(dir, 'config.json'), join(out, 'config.json'));
  const { tensors } = parseSafetensors(readFileSync(join(dir, 'model.safetensors')));
  const scaled: Record<string, HostTensor> = {};
  for (const [key, t] of tensors) {
    const matrix = t.shape.length === 2 && !/embed|wte|wpe/.test(key);
    scaled[key] = { shape: t.shape, data: matrix ? t.data.map((v) => v / 3) : t.data };
  }
  writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(scaled));
  return out;
}

const FIXTURES = hfFixtures()
  .map(hfFixture)
  .filter((dir) => existsSync(join(dir, 'model.safetensors')));
const MODELS: [string, () => string, boolean][] = [
  ...FIXTURES.map((dir) => [dir.split('/').pop()!, () => unscaledCopy(dir), true] as [string, () => string, boolean]),
  ['stories260K (interleaved rotary)', () => bundled('stories260K'), false],
];

for (const [name, make, temporary] of MODELS) {
  test(`finite differences match the mem gradient: ${name}`, async () => {
    const dir = make();
    const engine = await compiled(dir);
    try {
      const model = engine.model;
      const rng = seedrandom('fd');
      const K = 2;
      const d = model.embedDim;
      const ids = Array.from({ length: 12 }, () => Math.floor(rng() * Math.min(500, model.numEmbeddings)));
      const std = model.embeddingStd();
      const mem = Float32Array.from({ length: K * d }, () => (rng() - 0.5) * 4 * std);
      const grad = (await engine.objective(K, mem, [ids], true)).grad!;
      const lossAt = async (m: Float32Array) => (await engine.objective(K, m, [ids], false)).loss[0];
      for (let trial = 0; trial < 3; trial++) {
        const dirv = Float32Array.from({ length: K * d }, () => rng() - 0.5);
        const norm = Math.hypot(...dirv);
        dirv.forEach((v, i) => (dirv[i] = v / norm));
        const analytic = Array.from(grad).reduce((s, g, i) => s + g * dirv[i], 0);
        // Five-point central differences in float32 (truncation error O(h⁴)) at a few steps. The loss (~9 nats on
        // random weights) is rounded at ~1e-6, and ReLU (OPT) has kinks, so one step can be spoiled either way; the
        // best step must agree within 3%. A wrong gradient (a missing term, a wrong scale) disagrees at every step.
        const at = (t: number) => lossAt(mem.map((v, i) => v + t * dirv[i]));
        const errors: number[] = [];
        for (const rel of [1e-2, 3e-2, 1e-1]) {
          const h = rel * std * Math.sqrt(d);
          errors.push(
            Math.abs(
              (-(await at(2 * h)) + 8 * (await at(h)) - 8 * (await at(-h)) + (await at(-2 * h))) / (12 * h) - analytic,
            ),
          );
        }
        const scale = Math.max(Math.abs(analytic), Math.hypot(...grad) * 0.05);
        assert.ok(Math.min(...errors) < 0.03 * scale, `trial ${trial}: analytic ${analytic}, errors ${errors}`);
      }
    } finally {
      await engine.release();
      if (temporary) rmSync(dir, { recursive: true, force: true });
    }
  });
}

/**
 * A model verified in each precision: gutenberg-llama-xs on its reference input, against PyTorch's own
 * torch.autocast numbers for the same input (test/fixtures/precision/, made by make_autocast_reference.py beside it)
 * and against the harness in float32. Tolerances (README *Precision*): the harness and PyTorch round at slightly
 * different places (PyTorch runs rotary, activation and gating in the half type, the harness in float32), so they
 * agree to about the size of the half type's own effect, not to float32 accuracy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openModel } from '../../src/cram/compiled-model.ts';
import { readReference, verifyModel } from '../../src/cram/verify.ts';
import { precisionSupport, type Precision } from '../../src/engine/precision.ts';
import { bundled, fixture, ready, relL2, TEST_BACKEND } from '../helpers.ts';

interface Numbers {
  loss_no_mem: number;
  loss_with_mem: number;
  accuracy_with_mem: number;
  grad_mem: number[];
}
const torch = JSON.parse(readFileSync(fixture('precision/gutenberg-llama-xs-autocast.json'), 'utf8')) as {
  precisions: Record<Precision, Numbers>;
};
const ref = readReference(bundled('gutenberg-llama-xs/reference.json'));

/** |loss − PyTorch's| and relative L2 of the mem gradient to PyTorch's, at most; and the least change from float32. */
const TOLERANCE: Record<Precision, { loss: number; grad: number; minChange: number }> = {
  float32: { loss: 1e-5, grad: 1e-5, minChange: 0 },
  bfloat16: { loss: 3e-3, grad: 0.03, minChange: 1e-4 },
  float16: { loss: 1e-3, grad: 0.006, minChange: 1e-5 },
};

const results = new Map<Precision, Numbers>();

for (const precision of ['float32', 'bfloat16', 'float16'] as Precision[]) {
  test(`gutenberg-llama-xs in ${precision} on ${TEST_BACKEND} matches torch.autocast within tolerance`, async () => {
    const rt = await ready;
    const support = precisionSupport(rt.name, precision);
    const opening = openModel(bundled('gutenberg-llama-xs'), { backend: TEST_BACKEND, tokenizer: false, precision });
    if (!support.ok) {
      await assert.rejects(opening, new RegExp(`the ${rt.name} provider cannot run ${precision}`));
      return;
    }
    let loaded: Awaited<typeof opening>;
    try {
      loaded = await opening;
    } catch (e) {
      // A provider whose probe fails (webgpu without shader-f16) refuses with its name; nothing else may fail.
      assert.match((e as Error).message, new RegExp(`the ${rt.name} provider cannot run ${precision}`));
      return;
    }
    try {
      assert.equal(loaded.compiled.precision, precision);
      const r = await verifyModel(loaded.compiled, ref);
      results.set(precision, r);
      const t = torch.precisions[precision];
      const tol = TOLERANCE[precision];
      assert.ok(
        Math.abs(r.loss_with_mem - t.loss_with_mem) <= tol.loss,
        `loss with mem ${r.loss_with_mem} vs PyTorch ${t.loss_with_mem}`,
      );
      assert.ok(
        Math.abs(r.loss_no_mem - t.loss_no_mem) <= tol.loss,
        `loss without mem ${r.loss_no_mem} vs PyTorch ${t.loss_no_mem}`,
      );
      assert.ok(
        relL2(r.grad_mem, t.grad_mem) <= tol.grad,
        `mem gradient ${relL2(r.grad_mem, t.grad_mem)} from PyTorch's`,
      );
      const f32 = results.get('float32');
      if (f32 && precision !== 'float32') {
        // The precision is really applied: the loss moves off float32's, by about what PyTorch's moves.
        const moved = Math.abs(r.loss_with_mem - f32.loss_with_mem);
        assert.ok(
          moved >= tol.minChange,
          `${precision} loss ${r.loss_with_mem} is float32's ${f32.loss_with_mem}: nothing was rounded`,
        );
        assert.ok(
          relL2(r.grad_mem, f32.grad_mem) <=
            5 * relL2(torch.precisions[precision].grad_mem, torch.precisions.float32.grad_mem),
          "the gradient moves off float32 by at most 5× what PyTorch's moves",
        );
      }
    } finally {
      await loaded.compiled.release();
    }
  });
}

/**
 * Which provider runs which precision (src/engine/precision.ts), and the refusal before any work: a pair a provider
 * has no kernels for fails with one line naming the provider and what to use instead, before a model is loaded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolvePrecision } from '../../src/cram/compiled-model.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { PRECISIONS, precisionSupport, probeFailure } from '../../src/engine/precision.ts';

test('float32 runs natively everywhere; cpu emulates both half types; cuda runs them natively', () => {
  for (const provider of ['cpu', 'webgpu', 'cuda']) {
    const s = precisionSupport(provider, 'float32');
    assert.ok(s.ok && !s.mode.emulate && s.mode.dtype === 'float32' && !s.probe);
  }
  for (const p of ['bfloat16', 'float16'] as const) {
    const cpu = precisionSupport('cpu', p);
    assert.ok(cpu.ok && cpu.mode.emulate && cpu.mode.dtype === p, `cpu ${p}`);
    assert.match(cpu.ok ? (cpu.note ?? '') : '', new RegExp(`cpu provider has no ${p}`));
    const cuda = precisionSupport('cuda', p);
    assert.ok(cuda.ok && !cuda.mode.emulate && cuda.mode.dtype === p, `cuda ${p}`);
  }
  const f16 = precisionSupport('webgpu', 'float16');
  assert.ok(f16.ok && !f16.mode.emulate && f16.probe, 'webgpu float16 is native, confirmed by a probe on the adapter');
});

test('webgpu + bfloat16 is refused before any work, naming the provider and what to use instead', async () => {
  const s = precisionSupport('webgpu', 'bfloat16');
  assert.ok(!s.ok);
  assert.match(s.ok ? '' : s.reason, /webgpu provider cannot run bfloat16.*--precision float16.*--backend cuda/);
  // resolvePrecision refuses it on a started webgpu runtime without building a session (this stub has no ONNX Runtime).
  const stub = {
    name: 'webgpu',
    detail: 'stub adapter',
    ort: null,
    threads: 1,
    providers: ['webgpu'],
  } as unknown as Runtime;
  await assert.rejects(resolvePrecision(stub, 'bfloat16'), (e: Error) => {
    assert.match(e.message, /^the webgpu provider cannot run bfloat16/);
    assert.ok(!e.message.includes('\n') && e.message.length < 400, e.message);
    return true;
  });
  // float32 needs no probe either.
  assert.deepEqual((await resolvePrecision(stub, 'float32')).mode, { dtype: 'float32', emulate: false });
});

test('a failed half-precision probe names the provider, the adapter and the missing feature', () => {
  const msg = probeFailure(
    'webgpu',
    'float16',
    'shader_helper.cc:416 Program Cast requires f16 but the device does not support it.',
    'SwiftShader',
  );
  assert.match(
    msg,
    /^the webgpu provider cannot run float16 on SwiftShader \(the adapter lacks the shader-f16 feature\): use --precision float32, or --backend cpu/,
  );
  assert.ok(!msg.includes('\n'));
  assert.equal(PRECISIONS.length, 3);
});

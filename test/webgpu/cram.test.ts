/**
 * The harness's loops on webgpu against cpu, on the bundled gutenberg-llama-xs: a short cram (three texts, at most
 * 60 steps) stops for the same reasons with the same accuracies; greedy generation with the key/value cache and
 * one-step decoding give the same tokens; the decode and one-step graphs leave no compute on the CPU provider.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { CompiledModel } from '../../src/cram/compiled-model.ts';
import { cramAll, PAPER_SETTINGS, type CramOutcome } from '../../src/cram/cram.ts';
import { greedyGenerate } from '../../src/cram/generate.ts';
import { initRuntime, type Runtime } from '../../src/engine/runtime.ts';
import { placementReport } from '../../src/cli/doctor-command.ts';
import { loadModel } from '../../src/models/load.ts';
import { webgpuOrSkip } from './adapter.ts';

const XS = fileURLToPath(new URL('../../models/gutenberg-llama-xs', import.meta.url));
const TEXTS = [
  'It was a bright cold day.',
  'The old man looked at the sea and said nothing at all to the boy.',
  'She opened the door',
];

const gpu = await webgpuOrSkip();
if (gpu) {
  const cpu = await initRuntime('cpu');
  const loaded = await loadModel(XS, { tokenizer: true });
  const ids = TEXTS.map((s) => loaded.tokenizer!.encode(s).slice(0, 12));
  const engines = new Map<string, CompiledModel>();
  const engine = async (rt: Runtime) => {
    const key = rt.name;
    if (!engines.has(key)) {
      const m = await loadModel(XS, { tokenizer: false });
      engines.set(key, new CompiledModel(rt.name === 'cpu' ? { ...rt, threads: 1 } : rt, m.model, m.weightsSha256));
    }
    return engines.get(key)!;
  };
  const cram = async (rt: Runtime) => {
    const out = new Map<string, CramOutcome>();
    const settings = {
      ...PAPER_SETTINGS,
      optimizer: { ...PAPER_SETTINGS.optimizer, lr: 0.05 },
      maxSteps: 60,
      patience: 30,
    };
    await cramAll(
      await engine(rt),
      ids.map((t, i) => ({ key: `t${i}`, ids: t, nMem: 1 })),
      settings,
      {
        onFinish: (o) => {
          out.set(o.key, o);
        },
      },
    );
    return ids.map((_, i) => out.get(`t${i}`)!);
  };
  const results = new Map<string, CramOutcome[]>();
  test('a short cram on webgpu stops for the same reasons with the same accuracies as on cpu', async (t) => {
    for (const rt of [cpu, gpu]) results.set(rt.name, await cram(rt));
    const [c, g] = [results.get('cpu')!, results.get('webgpu')!];
    t.diagnostic(`cpu: ${c.map((o) => `${o.stopReason}@${o.steps} acc ${o.bestAccuracy.toFixed(3)}`).join(', ')}`);
    t.diagnostic(`webgpu: ${g.map((o) => `${o.stopReason}@${o.steps} acc ${o.bestAccuracy.toFixed(3)}`).join(', ')}`);
    assert.deepEqual(
      g.map((o) => o.stopReason),
      c.map((o) => o.stopReason),
    );
    assert.deepEqual(
      g.map((o) => o.bestAccuracy),
      c.map((o) => o.bestAccuracy),
    );
    assert.ok(new Set(c.map((o) => o.stopReason)).size >= 1);
    for (let i = 0; i < c.length; i++)
      assert.ok(Math.abs(g[i].originalLoss - c[i].originalLoss) < 1e-4 * Math.abs(c[i].originalLoss));
  });

  test('greedy generation with the key/value cache gives the same tokens on webgpu and cpu', async () => {
    const c = results.get('cpu');
    assert.ok(c, 'needs the cram test');
    for (const [i, o] of c.entries()) {
      const row = { parts: [{ vectors: o.memory }, { ids: ids[i].slice(0, 1) }], maxNew: ids[i].length + 4 };
      const onCpu = await greedyGenerate(await engine(cpu), row);
      const onGpu = await greedyGenerate(await engine(gpu), row);
      assert.deepEqual(onGpu, onCpu, `text ${i}`);
    }
  });

  test('one-step decoding and its objective agree on webgpu and cpu', async () => {
    const d = loaded.model.embedDim;
    const e = Float32Array.from({ length: 2 * d }, (_, i) => Math.sin(i) * 0.05);
    const m = Float32Array.from({ length: 2 * d }, (_, i) => Math.cos(i * 0.7) * 0.05);
    const onCpu = await (await engine(cpu)).oneStepDecode(e, m, 8);
    const onGpu = await (await engine(gpu)).oneStepDecode(e, m, 8);
    assert.deepEqual(onGpu, onCpu);
    const targets = [ids[0].slice(1), ids[1].slice(1, 6)];
    const oc = await (await engine(cpu)).oneStep(e, m, targets, true);
    const og = await (await engine(gpu)).oneStep(e, m, targets, true);
    for (let b = 0; b < 2; b++)
      assert.ok(Math.abs(og.loss[b] - oc.loss[b]) < 1e-4 * Math.abs(oc.loss[b]), `loss ${og.loss[b]} vs ${oc.loss[b]}`);
    let num = 0;
    let den = 0;
    og.gradE!.forEach((x, i) => {
      num += (x - oc.gradE![i]) ** 2;
      den += oc.gradE![i] ** 2;
    });
    assert.ok(Math.sqrt(num / den) < 1e-3, `gradient of e: relative L2 ${Math.sqrt(num / den)}`);
  });

  test('the decode and one-step graphs leave no compute on the CPU provider', async (t) => {
    const r = await placementReport(gpu, await loadModel(XS, { tokenizer: false }), {
      batch: 2,
      tokens: 12,
      mem: 1,
      graphs: ['decode', 'one-step'],
    });
    for (const g of r.graphs) {
      assert.deepEqual(g.fallbackCompute, [], `${g.graph}: compute on the CPU provider`);
      t.diagnostic(
        `${g.graph}: ${g.bytes.total} bytes per call (inputs ${g.bytes.inputsIn}, outputs ${g.bytes.outputsOut})`,
      );
    }
  });

  test.after(async () => {
    for (const e of engines.values()) await e.release();
  });
}

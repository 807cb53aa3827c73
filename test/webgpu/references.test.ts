/**
 * Every reference fixture (test/fixtures/tiny-hf*\/*, test/fixtures/hf/<model>/, and the bundled gutenberg-llama-xs)
 * verified on webgpu within the documented tolerance (checkAgainstReference, the same as on cpu), every architecture
 * with no compute node left on the CPU provider (ONNX Runtime's profile of the objective and baseline graphs), and
 * the webgpu/cpu agreement reported (max loss difference, gradient relative L2 and max difference).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompiledModel } from '../../src/cram/compiled-model.ts';
import { buildObjectiveGraph } from '../../src/cram/objective.ts';
import { checkAgainstReference, readReference, verifyModel, type Reference } from '../../src/cram/verify.ts';
import { serialize } from '../../src/engine/graph/onnx.ts';
import { isCompute, isCpu, profileRuns } from '../../src/engine/placement.ts';
import { initRuntime, type Runtime } from '../../src/engine/runtime.ts';
import { needsFloat32Cache, useFloat32Cache } from '../../src/models/float32-cache.ts';
import { loadModel, type LoadedModel } from '../../src/models/load.ts';
import { relL2 } from '../../src/metrics/vector-compare.ts';
import { webgpuOrSkip } from './adapter.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Gradient tolerance on webgpu for the exact (float32 CPU) references: 1e-4 on cpu. */
const WEBGPU_GRAD_REL_L2 = 1e-3;

/**
 * The reference fixtures, in either layout (test/fixtures/tiny-hf*\/<model>/ or test/fixtures/hf/<model>/), and the
 * bundled gutenberg-llama-xs: folders with a reference.json. `exact`: made in float32 on CPU (tight tolerance).
 */
export function referenceFixtures(): { dir: string; exact: boolean }[] {
  const fixtures = join(root, 'test', 'fixtures');
  const sub = (d: string) =>
    existsSync(d)
      ? readdirSync(d, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => join(d, e.name))
      : [];
  const roots = sub(fixtures).filter((d) => /\/(tiny-hf[^/]*|hf)$/.test(d));
  const dirs = roots
    .flatMap(sub)
    .filter((d) => existsSync(join(d, 'reference.json')))
    .sort();
  return [
    ...dirs.map((dir) => ({ dir, exact: true })),
    { dir: join(root, 'models', 'gutenberg-llama-xs'), exact: false },
  ];
}

/**
 * verifyModel's numbers on `rt`, from the objective graphs (baseline and step) run under ONNX Runtime's profiler, so
 * one pair of sessions gives both the numbers and where every node ran.
 */
async function profiledVerify(rt: Runtime, loaded: LoadedModel, ref: Reference) {
  const { model } = loaded;
  if (rt.name === 'webgpu') model.weights.maxBlockBytes = 1 << 30; // as CompiledModel does
  if (needsFloat32Cache(model.weights)) useFloat32Cache(model.weights, loaded.weightsSha256);
  const { ort } = rt;
  const n = ref.input_ids.length;
  const ids = new ort.Tensor('int64', BigInt64Array.from(ref.input_ids.map(BigInt)), [1, n]);
  const nTokens = new ort.Tensor('int64', BigInt64Array.from([BigInt(n)]), [1]);
  const run = async (grad: boolean) => {
    let got: Record<string, Float32Array> = {};
    const mem = grad ? Float32Array.from(ref.mem) : new Float32Array(0);
    const [placed] = await profileRuns(
      rt,
      serialize(buildObjectiveGraph(model, { grad })),
      model.weights.folder || null,
      (i, prev) => {
        if (i === 0)
          return { mem: new ort.Tensor('float32', mem, [1, grad ? 1 : 0, model.embedDim]), ids, n_tokens: nTokens };
        got = Object.fromEntries(Object.entries(prev!).map(([k, t]) => [k, Float32Array.from(t.data as Float32Array)]));
        return null;
      },
    );
    return { placed, got };
  };
  const base = await run(false);
  const step = await run(true);
  const result = {
    loss_no_mem: base.got.loss[0],
    accuracy_no_mem: base.got.correct[0] / (n - 1),
    loss_with_mem: step.got.loss[0],
    accuracy_with_mem: step.got.correct[0] / (n - 1),
    grad_mem: Array.from(step.got.grad),
    embedding_std: model.embeddingStd(),
    seconds: 0,
  };
  return { result, placements: [base.placed, step.placed] };
}

const gpu = await webgpuOrSkip();
if (gpu) {
  const cpu = await initRuntime('cpu');
  const cases = referenceFixtures();
  test('the fixture list covers every family, Mamba and Mamba-2 included', () => {
    const types = cases.map((c) => String(JSON.parse(readFileSync(join(c.dir, 'config.json'), 'utf8')).model_type));
    for (const t of ['llama', 'mamba', 'mamba2', 'gpt2', 'gpt_neox', 'opt', 'gemma2', 'phi3'])
      assert.ok(types.includes(t), `no ${t} fixture`);
  });
  for (const { dir, exact } of cases) {
    const name = dir.split('/').slice(-2).join('/');
    test(`webgpu matches the reference and cpu, nothing computed on the CPU provider: ${name}`, async (t) => {
      const ref = readReference(join(dir, 'reference.json'));
      const { result: r, placements } = await profiledVerify(gpu, await loadModel(dir, { tokenizer: false }), ref);
      // The CPU tolerance, except the gradient of the exact references: WGSL's exp and tanh may be several ULP off
      // (the Mamba scans' decays, Gemma's soft-caps), so up to WEBGPU_GRAD_REL_L2 there.
      const check = checkAgainstReference(r, ref, exact);
      const failures = check.failures.filter(
        (f) => !(exact && f.startsWith('gradient relative L2') && check.grad_rel_l2 < WEBGPU_GRAD_REL_L2),
      );
      t.diagnostic(
        `reference ${name}: loss rel ${Math.max(check.loss_no_mem_rel, check.loss_with_mem_rel).toExponential(2)}, grad rel L2 ${check.grad_rel_l2.toExponential(2)}`,
      );
      assert.deepEqual(failures, []);
      for (const p of placements) {
        const fallback = p.nodes.filter((x) => isCpu(x) && isCompute(x)).map((x) => `${x.op} ${x.outputs.join(' ')}`);
        assert.deepEqual(fallback, [], 'compute nodes on the CPU provider');
      }
      const onCpu = await loadModel(dir, { tokenizer: false });
      const c = new CompiledModel({ ...cpu, threads: 1 }, onCpu.model, onCpu.weightsSha256);
      try {
        const rc = await verifyModel(c, ref);
        const lossDiff = Math.max(
          Math.abs(r.loss_no_mem - rc.loss_no_mem),
          Math.abs(r.loss_with_mem - rc.loss_with_mem),
        );
        const gradMax = r.grad_mem.reduce((m, x, i) => Math.max(m, Math.abs(x - rc.grad_mem[i])), 0);
        t.diagnostic(
          `webgpu vs cpu ${name}: max loss diff ${lossDiff.toExponential(2)}, grad rel L2 ` +
            `${relL2(r.grad_mem, rc.grad_mem).toExponential(2)}, grad max diff ${gradMax.toExponential(2)}; bytes per step ` +
            `${placements[1].feedBytes + placements[1].fetchBytes + placements[1].toDeviceBytes + placements[1].toHostBytes}`,
        );
        assert.equal(r.accuracy_with_mem, rc.accuracy_with_mem);
      } finally {
        await c.release();
      }
    });
  }
}

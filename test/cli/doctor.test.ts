/**
 * `cram doctor` on the CPU provider: every graph the harness builds (objective, baseline, decode, one-step) is fed with
 * the inputs it declares and profiled, so a renamed graph input or a new one breaks this test here, not only on a GPU.
 * On cpu no node can fall back anywhere and no byte crosses a bus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placementReport } from '../../src/cli/doctor-command.ts';
import { loadModel } from '../../src/models/load.ts';
import { bundled, ready } from '../helpers.ts';

test('doctor profiles every graph on cpu: all nodes on the provider, inputs fed by their declared names', async () => {
  const rt = await ready;
  const r = await placementReport(rt, await loadModel(bundled('gutenberg-llama-xs'), { tokenizer: false }), {
    batch: 2,
    tokens: 8,
    mem: 1,
  });
  assert.deepEqual(r.graphs.map((g) => g.graph).sort(), ['baseline', 'decode', 'objective', 'one-step']);
  for (const g of r.graphs) {
    assert.ok(g.nodes > 10, `${g.graph}: ${g.nodes} nodes profiled`);
    assert.deepEqual(g.fallbackCompute, [], `${g.graph}: nothing leaves the chosen provider`);
    assert.ok(g.bytes.inputsIn > 0 && g.bytes.outputsOut > 0, `${g.graph}: inputs and outputs counted`);
    assert.equal(g.bytes.total, 0, `${g.graph}: nothing crosses a bus on cpu`);
  }
});

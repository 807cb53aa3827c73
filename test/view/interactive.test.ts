/** The report's specs made interactive: richer tooltips on per-text marks, legend selection, nothing else changed. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ceScatterFigure } from '../../src/experiments/kinds/capacity/figures/ce-scatter.ts';
import { interactiveFigure } from '../../src/view/interactive.ts';
import { syntheticRecords } from '../report/synthetic.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function units(spec: Obj, out: Obj[] = []): Obj[] {
  if (spec.mark !== undefined) out.push(spec);
  for (const k of ['layer', 'concat', 'hconcat', 'vconcat']) for (const s of spec[k] ?? []) units(s, out);
  if (spec.spec) units(spec.spec, out);
  return out;
}

const records = syntheticRecords({ lengths: [16, 32], samplesPerLength: 2 });

test('per-text points get tooltips naming model, source, K, length and text index', () => {
  const spec = ceScatterFigure(records).spec as Obj;
  const out = interactiveFigure(spec) as Obj;
  const points = units(out).find((u) => (u.mark.type ?? u.mark) === 'point')!;
  const fields = points.encoding.tooltip.map((t: Obj) => t.field);
  for (const f of ['model', 'source', 'n_mem', 'length', 'sample_index'])
    assert.ok(fields.includes(f), `${f} in ${fields}`);
  assert.equal(points.encoding.tooltip.find((t: Obj) => t.field === 'sample_index').title, 'text index');
  assert.equal(
    points.encoding.tooltip.find((t: Obj) => t.field === 'x').title,
    points.encoding.x.title,
    'x named by its axis',
  );
  // The data itself is untouched, and so is the input spec.
  assert.deepEqual(out.data, spec.data);
  assert.ok(!units(spec).some((u) => u.params), 'the input spec is not modified');
});

test('a colour legend becomes a selection that fades the other series, shared by the layers of one view', () => {
  const out = interactiveFigure(ceScatterFigure(records).spec as Obj) as Obj;
  const us = units(out);
  const withParams = us.filter((u) => u.params);
  assert.equal(withParams.length, 1);
  const p = withParams[0].params[0];
  assert.deepEqual(
    { bind: p.bind, type: p.select.type, fields: p.select.fields },
    { bind: 'legend', type: 'point', fields: ['source'] },
  );
  const coloured = us.filter((u) => u.encoding?.color?.field === 'source');
  assert.ok(coloured.length >= 2);
  for (const u of coloured) assert.equal(u.encoding.opacity.condition.param, p.name);
  // The points keep their own opacity when selected.
  const points = us.find((u) => (u.mark.type ?? u.mark) === 'point')!;
  assert.equal(points.encoding.opacity.condition.value, 0.75);
});

test('aggregated marks keep their tooltips (adding fields would change the grouping)', () => {
  const values = [{ model: 'm', source: 's', n_mem: 1, length: 4, sample_index: 0, acc: 0.5 }];
  const unit = (aggregate: boolean) => ({
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'length' },
      y: { field: 'acc', ...(aggregate ? { aggregate: 'mean' } : {}) },
      tooltip: [{ field: 'length' }],
    },
  });
  assert.deepEqual((interactiveFigure(unit(true)) as Obj).encoding.tooltip, [{ field: 'length' }]);
  assert.equal((interactiveFigure(unit(false)) as Obj).encoding.tooltip.length, 5);
});

test('an odd spec comes back unchanged, never throws', () => {
  const odd = { mark: 'point', encoding: { color: { field: 'a', type: 'quantitative' } } };
  assert.deepEqual(interactiveFigure(odd), odd);
  assert.deepEqual(interactiveFigure({}), {});
});

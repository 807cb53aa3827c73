import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from 'vega-lite';
import { CONFIG, SCHEMA, facetSpec, layeredSpec } from '../../src/report/figures/common.ts';

const values = [
  { panel: 'a', x: 1, y: 2 },
  { panel: 'b', x: 2, y: 3 },
];
const x = { field: 'x', type: 'quantitative' } as const;
const y = { field: 'y', type: 'quantitative' } as const;

test('facetSpec: the shared envelope around layered panels or one mark, and it compiles', () => {
  const layered = facetSpec({
    title: 'T',
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: ['b', 'a'] },
    columns: 2,
    resolve: { scale: { y: 'independent' } },
    width: 100,
    height: 50,
    layer: [
      { mark: 'line', encoding: { x, y } },
      { mark: 'point', encoding: { x, y } },
    ],
  });
  assert.deepEqual(layered, {
    $schema: SCHEMA,
    title: 'T',
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: ['b', 'a'] },
    columns: 2,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 100,
      height: 50,
      layer: [
        { mark: 'line', encoding: { x, y } },
        { mark: 'point', encoding: { x, y } },
      ],
    },
    config: CONFIG,
  });
  const unit = facetSpec({
    title: 'U',
    values,
    facet: { field: 'panel', type: 'nominal' },
    width: 80,
    height: 40,
    mark: 'point',
    encoding: { x, y },
    config: { ...CONFIG, background: '#eee' },
  });
  assert.ok(!('columns' in unit) && !('resolve' in unit));
  assert.deepEqual((unit as { spec: unknown }).spec, { width: 80, height: 40, mark: 'point', encoding: { x, y } });
  assert.equal(unit.config?.background, '#eee');
  for (const spec of [layered, unit]) assert.ok(compile(spec).spec.marks?.length, 'no marks compiled');
});

test('layeredSpec: one layered chart, step widths allowed, and it compiles', () => {
  const spec = layeredSpec({
    title: 'L',
    values,
    width: { step: 30 },
    height: 60,
    layer: [{ mark: 'bar', encoding: { x: { field: 'panel', type: 'nominal' }, y } }],
  });
  assert.deepEqual(Object.keys(spec), ['$schema', 'title', 'data', 'width', 'height', 'layer', 'config']);
  assert.deepEqual((spec as { width?: unknown }).width, { step: 30 });
  assert.equal(spec.config, CONFIG);
  assert.ok(compile(spec).spec.marks?.length);
});

/**
 * The report's Vega-Lite specs made interactive for the browser, without changing what they draw: tooltips name the
 * text behind a mark (model, source, K, length, text index, where the data has them), and clicking a colour legend
 * entry hides the other series (a legend-bound point selection that clicks toggle: click more entries to add them,
 * the same again to drop it).
 */
const TEXT_TOOLTIP: [string, string][] = [
  ['model', 'model'],
  ['source', 'source'],
  ['n_mem', 'K'],
  ['length', 'length'],
  ['sample_index', 'text index'],
];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields present in the spec's inline data (every `data.values` it holds). */
function dataFields(spec: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(spec)) {
    for (const s of spec) dataFields(s, out);
  } else if (isObj(spec)) {
    if (isObj(spec.data) && Array.isArray(spec.data.values)) {
      for (const row of spec.data.values) if (isObj(row)) for (const k of Object.keys(row)) out.add(k);
    }
    for (const [k, v] of Object.entries(spec)) if (k !== 'data' && k !== 'config') dataFields(v, out);
  }
  return out;
}

const aggregated = (unit: Obj): boolean => {
  const enc = isObj(unit.encoding) ? unit.encoding : {};
  if (Object.values(enc).some((c) => isObj(c) && c.aggregate !== undefined)) return true;
  return (
    Array.isArray(unit.transform) &&
    unit.transform.some((t) => isObj(t) && (t.aggregate || t.joinaggregate || t.window || t.fold || t.pivot))
  );
};

/** Returns a copy of `spec` with richer tooltips and legend selection. Never throws; odd specs come back unchanged. */
export function interactiveFigure<T extends object>(spec: T): T {
  try {
    const copy = structuredClone(spec) as unknown as Obj;
    const fields = dataFields(copy);
    let n = 0;
    const visit = (node: unknown, legendParam: { name: string; field: string } | null): void => {
      if (Array.isArray(node)) {
        for (const s of node) visit(s, legendParam);
        return;
      }
      if (!isObj(node)) return;
      if (node.mark !== undefined && isObj(node.encoding)) {
        const enc = node.encoding;
        const markType = isObj(node.mark) ? node.mark.type : node.mark;
        if (Array.isArray(enc.tooltip)) {
          // Untitled tooltip fields that are an axis's field take the axis title ("x" → "Original CE H_LM, nats").
          for (const t of enc.tooltip) {
            if (!isObj(t) || t.title !== undefined) continue;
            const axis = [enc.x, enc.y].find((c) => isObj(c) && c.field === t.field && typeof c.title === 'string') as
              Obj | undefined;
            if (axis) t.title = axis.title;
          }
        }
        if (Array.isArray(enc.tooltip) && !aggregated(node)) {
          const have = new Set(enc.tooltip.filter(isObj).map((t) => t.field));
          for (const [f, title] of TEXT_TOOLTIP)
            if (fields.has(f) && !have.has(f)) enc.tooltip.push({ field: f, title });
        }
        const color = enc.color;
        if (
          isObj(color) &&
          typeof color.field === 'string' &&
          color.type === 'nominal' &&
          enc.opacity === undefined &&
          markType !== 'text'
        ) {
          let param = legendParam && legendParam.field === color.field ? legendParam : null;
          if (!param) {
            param = { name: `legend${n++}`, field: color.field };
            node.params = [
              ...(Array.isArray(node.params) ? node.params : []),
              { name: param.name, select: { type: 'point', fields: [color.field], toggle: 'true' }, bind: 'legend' },
            ];
            legendParam = param;
          }
          const full = isObj(node.mark) && typeof node.mark.opacity === 'number' ? node.mark.opacity : 1;
          enc.opacity = { condition: { param: param.name, value: full, empty: true }, value: 0.08 };
        }
      }
      // Layers share one selection per colour field; facets and concatenations get their own.
      if (Array.isArray(node.layer)) {
        let shared: { name: string; field: string } | null = null;
        for (const l of node.layer) {
          visit(l, shared);
          if (!shared && isObj(l) && Array.isArray(l.params)) {
            const p = l.params.find((x) => isObj(x) && x.bind === 'legend') as Obj | undefined;
            if (p && isObj(p.select) && Array.isArray(p.select.fields))
              shared = { name: String(p.name), field: String(p.select.fields[0]) };
          }
        }
      }
      for (const k of ['spec', 'concat', 'hconcat', 'vconcat']) if (node[k] !== undefined) visit(node[k], null);
    };
    visit(copy, null);
    return copy as unknown as T;
  } catch {
    return spec;
  }
}

/**
 * Graph → ONNX ModelProto bytes (protobuf through the `onnx-proto` package's generated protobufjs code). Small
 * constants are stored inline; weights as external data that points into the model's own files, so nothing is copied.
 */
import onnxProto from 'onnx-proto';
import { ONNX_DTYPE, type Attr, type Graph, type InlineTensor, type Value } from './graph.ts';

const { onnx } = onnxProto;

/** IR version 8 with opset 18 (ONNX 1.13): reduce ops take axes as inputs, Split takes sizes as an input. */
export const IR_VERSION = 8;
export const OPSET = 18;

function tensorProto(name: string, t: InlineTensor): InstanceType<typeof onnx.TensorProto> {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return onnx.TensorProto.create({
    name,
    dims: t.dims,
    dataType: ONNX_DTYPE[t.dtype],
    rawData: Uint8Array.from(bytes),
  });
}

function attribute(name: string, a: Attr) {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return onnx.AttributeProto.create({ name, type: T.INT, i: a.i });
  if ('f' in a) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.f });
  if ('ints' in a) return onnx.AttributeProto.create({ name, type: T.INTS, ints: a.ints });
  if ('floats' in a) return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: a.floats });
  if ('s' in a) return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(a.s) });
  return onnx.AttributeProto.create({ name, type: T.TENSOR, t: tensorProto('', a.t) });
}

function valueInfo(v: Value, name = v.name) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export function serialize(g: Graph, producer = 'cramming-harness'): Uint8Array {
  const initializer = [
    ...[...g.inline].map(([name, t]) => tensorProto(name, t)),
    ...[...g.external].map(([name, t]) =>
      onnx.TensorProto.create({
        name,
        dims: t.dims,
        dataType: ONNX_DTYPE[t.dtype],
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: t.location },
          { key: 'offset', value: String(t.offset) },
          { key: 'length', value: String(t.length) },
        ],
      }),
    ),
  ];
  const graph = onnx.GraphProto.create({
    name: g.name,
    node: g.nodes.map((n, i) =>
      onnx.NodeProto.create({
        name: `n${i}_${n.op}`,
        opType: n.op,
        domain: n.domain ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      }),
    ),
    initializer,
    input: g.inputs.map((v) => valueInfo(v)),
    output: g.outputs.map((o) => valueInfo(o.value, o.name)),
  });
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: producer,
    opsetImport: [{ domain: '', version: OPSET }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

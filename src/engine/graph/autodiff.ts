/**
 * Reverse mode over the tape the ops recorded: seeds the gradient of a scalar (or of any value, with a given seed),
 * walks the tape from the last entry to the first, calls each entry's vector-Jacobian product and sums the gradients
 * of values used more than once. The backward nodes join the same graph, after the forward ones.
 */
import type { Value } from './graph.ts';
import { add } from './ops.ts';

/**
 * d(seed · ys)/d(wrt): `ys` are the values to differentiate, `seeds` their upstream gradients (same shapes). Returns one
 * gradient per `wrt` value; a `wrt` value that `ys` does not depend on gets zeros of its shape.
 */
export function gradients(ys: Value[], seeds: Value[], wrt: Value[]): Value[] {
  if (ys.length === 0) throw new Error('gradients: nothing to differentiate');
  const g = ys[0].graph;
  const grads = new Map<string, Value>();
  const accumulate = (v: Value, d: Value) => {
    const prev = grads.get(v.name);
    grads.set(v.name, prev ? add(prev, d) : d);
  };
  ys.forEach((y, i) => accumulate(y, seeds[i]));
  // Entries after the last one that produced a differentiated value cannot contribute; the walk covers them anyway.
  const tape = [...g.tape];
  g.recording = false;
  try {
    for (let i = tape.length - 1; i >= 0; i--) {
      const entry = tape[i];
      const outGrads = entry.outputs.map((o) => grads.get(o.name) ?? null);
      if (outGrads.every((d) => d === null)) continue;
      const inGrads = entry.vjp(outGrads);
      entry.inputs.forEach((x, j) => {
        const d = inGrads[j];
        if (d && x.requiresGrad) accumulate(x, d);
      });
    }
  } finally {
    g.recording = true;
  }
  return wrt.map((w) => {
    const d = grads.get(w.name);
    if (d) return d;
    throw new Error(`gradients: ${w.name} does not influence the differentiated values`);
  });
}

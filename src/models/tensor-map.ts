/** Host copies of tensors (vector files, tests): always float32 (upcast on read). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Weights by their Hugging Face name (e.g. "model.layers.0.self_attn.q_proj.weight"). */
export type TensorMap = Map<string, HostTensor>;

export function requireTensor(map: TensorMap, name: string, shape?: number[]): HostTensor {
  const t = map.get(name);
  if (!t) {
    const near = [...map.keys()].filter((k) => k.split('.').pop() === name.split('.').pop()).slice(0, 3);
    throw new Error(`weight "${name}" is missing from the checkpoint` + (near.length ? ` (similar names: ${near.join(', ')})` : ''));
  }
  if (shape && (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]))) {
    throw new Error(`weight "${name}" has shape [${t.shape}] but the config implies [${shape}]`);
  }
  return t;
}

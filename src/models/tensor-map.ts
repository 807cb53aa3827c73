/** Host copies of tensors (vector files, tests): always float32 (upcast on read). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Weights by their Hugging Face name (e.g. "model.layers.0.self_attn.q_proj.weight"). */
export type TensorMap = Map<string, HostTensor>;

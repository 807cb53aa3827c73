/**
 * Precision of the matrix products, as `torch.autocast` runs them: with `bfloat16` or `float16`, every matrix product
 * (the frozen projections, the attention products q·kᵀ and p·v, the LM head's operands) takes its operands in that
 * type and gives its result in it, forward and backward; norms, softmax, the cross-entropy, the residual stream, the
 * [mem] vectors and AdamW stay in float32 (the casts sit around each product, src/engine/graph/ops.ts).
 *
 * What each ONNX Runtime 1.30 provider does with it (measured, see README *Precision*):
 * - cpu: no half-precision MatMul/Gemm kernel on x86-64 (MLAS has half GEMMs on ARM64 only). For float16 ONNX Runtime
 *   itself wraps each half product in casts and computes it in float32; bfloat16 has no kernel at all. The harness
 *   therefore runs both *emulated* on cpu: operands and results rounded to the half type, products in float32 (what a
 *   tensor core does with fp32 accumulation). Half numerics, no speed or memory gain.
 * - webgpu: float16 natively where the adapter has the `shader-f16` feature (probed; SwiftShader has not); WGSL has
 *   no bfloat16 type, so bfloat16 is refused.
 * - cuda: float16 and bfloat16 natively.
 *
 * Importing this module loads no tensor engine (config validation uses PRECISIONS).
 */
export const PRECISIONS = ['float32', 'bfloat16', 'float16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** How the graph computes its matrix products: in `dtype`, natively or emulated (rounded operands, float32 product). */
export interface MatmulMode {
  dtype: Precision;
  emulate: boolean;
}

export const FLOAT32_MODE: MatmulMode = { dtype: 'float32', emulate: false };

/** Bytes per element of a precision. */
export const PRECISION_BYTES: Record<Precision, number> = { float32: 4, bfloat16: 2, float16: 2 };

export type PrecisionSupport =
  { ok: true; mode: MatmulMode; note: string | null; probe: boolean } | { ok: false; reason: string };

/**
 * Whether `provider` (cpu | webgpu | cuda) runs `precision`, and how. `probe` asks the caller to confirm on the
 * started provider with a tiny half-precision product (webgpu float16 needs the adapter's shader-f16 feature).
 */
export function precisionSupport(provider: string, precision: Precision): PrecisionSupport {
  if (precision === 'float32') return { ok: true, mode: FLOAT32_MODE, note: null, probe: false };
  if (provider === 'cpu') {
    return {
      ok: true,
      mode: { dtype: precision, emulate: true },
      probe: false,
      note:
        `ONNX Runtime's cpu provider has no ${precision} matrix-product kernels on this processor: ` +
        `${precision} is emulated (operands and results rounded, products in float32), ` +
        'with half numerics but no speed or memory gain',
    };
  }
  if (provider === 'webgpu') {
    if (precision === 'bfloat16') {
      return {
        ok: false,
        reason:
          'the webgpu provider cannot run bfloat16 (WGSL has no bfloat16 type and ONNX Runtime has no bfloat16 ' +
          'webgpu kernels): use --precision float16 (on an adapter with shader-f16) or float32, --backend cuda for ' +
          'bfloat16, or --backend cpu (emulated)',
      };
    }
    return { ok: true, mode: { dtype: precision, emulate: false }, note: null, probe: true };
  }
  if (provider === 'cuda') return { ok: true, mode: { dtype: precision, emulate: false }, note: null, probe: false };
  return { ok: false, reason: `unknown provider "${provider}" for precision ${precision}` };
}

/** The message when the probe of a native half product fails on a started provider. */
export function probeFailure(provider: string, precision: Precision, detail: string, adapter: string): string {
  const why = /f16|shader-f16|does not support/i.test(detail) ? ' (the adapter lacks the shader-f16 feature)' : '';
  return (
    `the ${provider} provider cannot run ${precision} on ${adapter}${why}: use --precision float32, ` +
    'or --backend cpu ' +
    `(${precision} emulated there); probe said: ${detail.split('\n')[0].slice(0, 160)}`
  );
}

/**
 * AdamW exactly as torch.optim.AdamW computes it on float32 tensors (decoupled weight decay, `lerp` for the first
 * moment, bias corrections in float64 as PyTorch does on Python floats, eps outside the square root), every operation
 * rounded to float32 as PyTorch's kernels round it. Runs on the host over one problem's [K·d] vectors: each text in a
 * batch has its own moments and its own step count, because texts join a running batch at different times.
 */

export interface AdamWSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** The paper's settings (official code defaults). */
export const PAPER_ADAMW: AdamWSettings = { lr: 1e-2, beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0.01 };

export interface AdamWState {
  m: Float32Array;
  v: Float32Array;
  /** Updates done so far. */
  step: number;
}

export function adamwState(size: number): AdamWState {
  return { m: new Float32Array(size), v: new Float32Array(size), step: 0 };
}

const f = Math.fround;

/**
 * One update of `params` (in place) with `grad` (read from `grad[offset …]`); `state` advances one step. The
 * arithmetic follows torch's single-tensor AdamW on CPU: p·(1 − lr·wd); m.lerp(g, 1 − β1); v·β2 + (1 − β2)·g·g;
 * denom = √v / (1 − β2^t)^½ + eps; p + (−lr / (1 − β1^t))·m / denom — bit for bit against torch 2.13
 * (test/fixtures/adamw-torch.json, written by scripts/adamw_reference.py).
 */
export function adamwUpdate(
  s: AdamWSettings,
  params: Float32Array,
  grad: Float32Array,
  state: AdamWState,
  offset = 0,
): void {
  state.step += 1;
  const t = state.step;
  const decay = f(1 - s.lr * s.weightDecay);
  const w1 = f(1 - s.beta1);
  const b2 = f(s.beta2);
  const w2 = f(1 - s.beta2);
  const bc2sqrt = f((1 - s.beta2 ** t) ** 0.5);
  const negStep = f(-(s.lr / (1 - s.beta1 ** t)));
  const eps = f(s.eps);
  const { m, v } = state;
  // torch's vectorised lerp is one fused multiply-add, fma(coeff, end − start, base), with coeff = w and base = start
  // for w < 0.5, else coeff = w − 1 and base = end: the product of two floats is exact in float64, so the fma is the
  // float64 sum rounded once to float32.
  const lerpHigh = w1 >= 0.5;
  const coeff = lerpHigh ? f(w1 - 1) : w1;
  for (let i = 0; i < params.length; i++) {
    const g = grad[offset + i];
    params[i] = f(params[i] * decay);
    m[i] = f((lerpHigh ? g : m[i]) + coeff * f(g - m[i]));
    v[i] = f(f(v[i] * b2) + f(f(w2 * g) * g));
    const denom = f(f(f(Math.sqrt(v[i])) / bc2sqrt) + eps);
    params[i] = f(params[i] + f(f(negStep * m[i]) / denom));
  }
}

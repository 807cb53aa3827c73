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
 * arithmetic follows torch's single-tensor AdamW: p·(1 − lr·wd); m.lerp(g, 1 − β1); v·β2 + (1 − β2)·g·g;
 * denom = √v / √(1 − β2^t) + eps; p + (−lr / (1 − β1^t))·m / denom.
 */
export function adamwUpdate(s: AdamWSettings, params: Float32Array, grad: Float32Array, state: AdamWState, offset = 0): void {
  state.step += 1;
  const t = state.step;
  const decay = f(1 - s.lr * s.weightDecay);
  const w1 = f(1 - s.beta1);
  const b2 = f(s.beta2);
  const w2 = f(1 - s.beta2);
  const bc2sqrt = f(Math.sqrt(1 - s.beta2 ** t));
  const negStep = f(-(s.lr / (1 - s.beta1 ** t)));
  const eps = f(s.eps);
  const { m, v } = state;
  const lerpHigh = w1 >= 0.5; // torch.lerp switches formula at weight 0.5
  for (let i = 0; i < params.length; i++) {
    const g = grad[offset + i];
    params[i] = f(params[i] * decay);
    m[i] = lerpHigh ? f(g - f(f(g - m[i]) * f(1 - w1))) : f(m[i] + f(w1 * f(g - m[i])));
    v[i] = f(f(v[i] * b2) + f(f(w2 * g) * g));
    const denom = f(f(f(Math.sqrt(v[i])) / bc2sqrt) + eps);
    params[i] = f(params[i] + f(f(negStep * m[i]) / denom));
  }
}

/**
 * Principal components of a set of points, float64: a symmetric eigen-decomposition by cyclic Jacobi rotations, and a
 * PCA through the covariance (few dimensions) or the Gram matrix (few points). The solution-space kind reads the
 * shape of optimisation trajectories with it.
 */

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major, float64) by cyclic Jacobi rotations. Returns the
 * eigenvalues in descending order and the eigenvectors as the columns of a row-major n×n matrix.
 */
export function symmetricEigen(matrix: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) <= 1e-300) continue;
        const app = a[p * n + p];
        const aqq = a[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values: order.map((i) => a[i * n + i]), vectors };
}

export interface PcaResult {
  /** Share of the total variance on each of the first `k` components. */
  shares: number[];
  /** Total variance (sum of squared distances from the mean). */
  total: number;
  /** Coordinates of every point on the first `k` components, [points][k]. */
  coords: number[][];
  /** Points used (a trajectory longer than MAX_PCA_POINTS is thinned evenly, first and last kept). */
  points: number;
}

/**
 * Fewest trajectory points whose PCA shares mean something: one point has no variance (0/0) and two always lie on one
 * line (PC1 = 100 % whatever the optimisation did), so their shares are undefined: null in records, left out (and
 * counted) in summaries.
 */
export const MIN_PCA_POINTS = 3;

/** PC1 and PC2 shares of a PCA, or null where they are undefined (too few points, or no variance at all). */
export function definedShares(p: PcaResult | null): [number, number] | null {
  return p !== null && p.points >= MIN_PCA_POINTS && p.total > 0 && Number.isFinite(p.shares[0])
    ? [p.shares[0], p.shares[1] ?? 0]
    : null;
}

/** Longest point set (and widest vector) the PCA takes whole: beyond, points are thinned evenly. */
export const MAX_PCA_POINTS = 600;

/** Indices 0…n−1 thinned evenly to at most `max` (first and last kept). */
export function thin(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: max }, (_, i) => Math.round((i * (n - 1)) / (max - 1)));
}

/**
 * PCA of points (rows): centred on their mean; through the D×D covariance when D ≤ points, else the points' Gram
 * matrix. Signs are fixed so that the last point has a non-negative coordinate on every component.
 */
export function pca(points: readonly ArrayLike<number>[], k = 2): PcaResult {
  const T = points.length;
  if (T === 0) return { shares: Array(k).fill(NaN), total: 0, coords: [], points: 0 };
  const D = points[0].length;
  const mu = new Float64Array(D);
  for (const p of points) for (let j = 0; j < D; j++) mu[j] += p[j] / T;
  const X = points.map((p) => Float64Array.from({ length: D }, (_, j) => p[j] - mu[j]));
  let total = 0;
  for (const x of X) for (let j = 0; j < D; j++) total += x[j] * x[j];
  const coords: number[][] = X.map(() => Array(k).fill(0));
  const shares: number[] = Array(k).fill(0);
  if (total === 0) return { shares, total, coords, points: T };
  if (D <= T) {
    const C = new Float64Array(D * D);
    for (const x of X)
      for (let i = 0; i < D; i++) {
        const xi = x[i];
        if (xi === 0) continue;
        for (let j = i; j < D; j++) C[i * D + j] += xi * x[j];
      }
    for (let i = 0; i < D; i++) for (let j = 0; j < i; j++) C[i * D + j] = C[j * D + i];
    const { values, vectors } = symmetricEigen(C, D);
    for (let c = 0; c < Math.min(k, D); c++) {
      shares[c] = Math.max(values[c], 0) / total;
      X.forEach((x, t) => {
        let s = 0;
        for (let j = 0; j < D; j++) s += x[j] * vectors[j * D + c];
        coords[t][c] = s;
      });
    }
  } else {
    const G = new Float64Array(T * T);
    for (let i = 0; i < T; i++)
      for (let j = i; j < T; j++) {
        let s = 0;
        const a = X[i];
        const b = X[j];
        for (let q = 0; q < D; q++) s += a[q] * b[q];
        G[i * T + j] = s;
        G[j * T + i] = s;
      }
    const { values, vectors } = symmetricEigen(G, T);
    for (let c = 0; c < Math.min(k, T); c++) {
      const lam = Math.max(values[c], 0);
      shares[c] = lam / total;
      const sv = Math.sqrt(lam);
      for (let t = 0; t < T; t++) coords[t][c] = vectors[t * T + c] * sv;
    }
  }
  for (let c = 0; c < k; c++) if (coords[T - 1][c] < 0) for (const row of coords) row[c] = -row[c];
  return { shares, total, coords, points: T };
}

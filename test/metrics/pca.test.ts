/** The PCA of src/metrics/pca.ts against decompositions known by hand, through both of its paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pca, symmetricEigen, thin } from '../../src/metrics/pca.ts';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('symmetricEigen of [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1)/√2 and (1, −1)/√2', () => {
  const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  close(values[0], 3);
  close(values[1], 1);
  // Columns are the eigenvectors (row-major n×n), up to sign.
  close(Math.abs(vectors[0]), Math.SQRT1_2);
  close(Math.abs(vectors[2]), Math.SQRT1_2);
  close(vectors[0] * vectors[2], 0.5);
  close(vectors[1] * vectors[3], -0.5);
});

test('symmetricEigen of a rotated diagonal matrix gives back its diagonal, largest first, and A v = λ v', () => {
  // A = R diag(5, 2, −1) Rᵀ with R a rotation about z by 30° then about x by 40°.
  const c1 = Math.cos(Math.PI / 6);
  const s1 = Math.sin(Math.PI / 6);
  const c2 = Math.cos((2 * Math.PI) / 9);
  const s2 = Math.sin((2 * Math.PI) / 9);
  const Rz = [c1, -s1, 0, s1, c1, 0, 0, 0, 1];
  const Rx = [1, 0, 0, 0, c2, -s2, 0, s2, c2];
  const mul = (a: number[], b: number[]) =>
    Array.from({ length: 9 }, (_, k) =>
      [0, 1, 2].reduce((s, q) => s + a[3 * Math.floor(k / 3) + q] * b[3 * q + (k % 3)], 0),
    );
  const R = mul(Rx, Rz);
  const D = [5, 0, 0, 0, 2, 0, 0, 0, -1];
  const Rt = Array.from({ length: 9 }, (_, k) => R[3 * (k % 3) + Math.floor(k / 3)]);
  const A = mul(mul(R, D), Rt);
  const { values, vectors } = symmetricEigen(Float64Array.from(A), 3);
  [5, 2, -1].forEach((v, i) => close(values[i], v, 1e-9));
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < 3; i++) {
      const Av = [0, 1, 2].reduce((s, j) => s + A[3 * i + j] * vectors[3 * j + c], 0);
      close(Av, values[c] * vectors[3 * i + c], 1e-9);
    }
});

test('pca of points on an ellipse: variance shares 0.9 and 0.1, the same through the covariance and the Gram path', () => {
  // (±3, 0) and (0, ±1): squared distances 9 + 9 and 1 + 1 around the mean 0, total 20.
  const flat = [
    [3, 0],
    [-3, 0],
    [0, 1],
    [0, -1],
  ];
  const cov = pca(flat); // D = 2 ≤ 4 points: covariance
  close(cov.total, 20);
  close(cov.shares[0], 0.9);
  close(cov.shares[1], 0.1);
  // The same points in 10 dimensions (D > points: the Gram matrix).
  const wide = flat.map(([x, y]) => [x, 0, 0, y, 0, 0, 0, 0, 0, 0]);
  const gram = pca(wide);
  close(gram.shares[0], 0.9);
  close(gram.shares[1], 0.1);
  // Coordinates: PC1 is the x axis (±3), PC2 the y axis (±1), signs fixed by the last point.
  assert.deepEqual(
    cov.coords.map((r) => r.map((v) => Math.round(Math.abs(v) * 1e9) / 1e9)),
    [
      [3, 0],
      [3, 0],
      [0, 1],
      [0, 1],
    ],
  );
  assert.ok(cov.coords[3][1] >= 0 && gram.coords[3][1] >= 0);
});

test('thin keeps the first and last index and spreads the rest evenly', () => {
  assert.deepEqual(thin(5, 10), [0, 1, 2, 3, 4]);
  assert.deepEqual(thin(11, 3), [0, 5, 10]);
});

/**
 * Matrix-product speed by precision on this machine: ONNX Runtime's CPU provider (float32; float16, which it runs in
 * float32 between casts it inserts itself; the harness's emulated bfloat16: operands and result rounded through casts)
 * next to PyTorch's CPU products in the same dtypes (bench/peer/torch_gemm.py), measured back to back, `--rounds`
 * times alternating. GFLOP/s of y = a·wᵀ for a [M, K] and w [N, K], best of 5 per round.
 *
 *   npm run bench:half [-- --m 512 --k 768 --n 768 --threads 1 --rounds 2]   (peer: $CRAM_PYTHON, default python3)
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { Graph, type DType } from '../src/engine/graph/graph.ts';
import { serialize } from '../src/engine/graph/onnx.ts';
import { linear2d, withMatmulPrecision } from '../src/engine/graph/ops.ts';
import { PROJECT_ROOT } from '../src/paths/index.ts';
import { MACHINE } from './common.ts';

const o = new Command()
  .option('--m <n>', 'rows', '512')
  .option('--k <n>', 'inner size', '768')
  .option('--n <n>', 'columns', '768')
  .option('--threads <n>', 'threads', '1')
  .option('--rounds <n>', 'alternating rounds', '2')
  .parse()
  .opts();
const [M, K, N, T] = [Number(o.m), Number(o.k), Number(o.n), Number(o.threads)];

/** y = a·wᵀ as the harness emits it in `dtype` on cpu ('float16-native' is a plain float16 Gemm, left to ONNX Runtime). */
function graph(variant: 'float32' | 'float16-native' | 'bfloat16-emulated' | 'float16-emulated'): Uint8Array {
  const g = new Graph('k');
  const a = g.input('a', 'float32', [M, K]);
  const w = g.constant(
    new Float32Array(N * K).map(() => Math.random() - 0.5),
    [N, K],
    'float32',
  );
  if (variant === 'float16-native') {
    const cast = (x: typeof a, to: DType, code: number) =>
      g.node('Cast', [x], { to: { i: code } }, [{ dtype: to, shape: x.shape }])[0];
    const y = g.node('Gemm', [cast(a, 'float16', 10), cast(w, 'float16', 10)], { transB: { i: 1 } }, [
      { dtype: 'float16', shape: [M, N] },
    ])[0];
    g.output(cast(y, 'float32', 1), 'y');
  } else {
    const mode =
      variant === 'float32'
        ? { dtype: 'float32' as const, emulate: false }
        : { dtype: variant.split('-')[0] as 'bfloat16', emulate: true };
    g.output(
      withMatmulPrecision(mode, () => linear2d(a, w)),
      'y',
    );
  }
  return serialize(g);
}

const rows: Record<string, unknown>[] = [];
for (let round = 0; round < Number(o.rounds); round++) {
  for (const variant of ['float32', 'float16-native', 'bfloat16-emulated', 'float16-emulated'] as const) {
    const s = await ort.InferenceSession.create(graph(variant), {
      executionProviders: ['cpu'],
      intraOpNumThreads: T,
      logSeverityLevel: 3,
    });
    const feed = {
      a: new ort.Tensor(
        'float32',
        new Float32Array(M * K).map(() => Math.random() - 0.5),
        [M, K],
      ),
    };
    await s.run(feed);
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const r = await s.run(feed);
      best = Math.min(best, performance.now() - t);
      r.y.dispose();
    }
    await s.release();
    rows.push({
      kind: 'onnxruntime-cpu',
      variant,
      round,
      ms: Number(best.toFixed(3)),
      gflops: Number(((2 * M * K * N) / best / 1e6).toFixed(1)),
      load: loadavg()[0],
    });
  }
  const py = spawnSync(
    process.env.CRAM_PYTHON ?? 'python3',
    [
      join(PROJECT_ROOT, 'bench', 'peer', 'torch_gemm.py'),
      '--m',
      String(M),
      '--k',
      String(K),
      '--n',
      String(N),
      '--threads',
      String(T),
    ],
    { encoding: 'utf8' },
  );
  if (py.status !== 0) rows.push({ kind: 'torch', skipped: py.stderr.slice(-300) });
  for (const line of py.stdout.split('\n').filter(Boolean))
    rows.push({ ...JSON.parse(line), round, load: loadavg()[0] });
}
for (const r of rows) process.stdout.write(JSON.stringify({ ...r, machine: MACHINE }) + '\n');

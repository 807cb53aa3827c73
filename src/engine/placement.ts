/**
 * Where ONNX Runtime ran each node of a session, and what crossed between host and device: read from ONNX Runtime's
 * own profile (SessionOptions.enableProfiling), which names every executed node's provider, output types and sizes,
 * and the Memcpy nodes it inserted between providers. Used by `cram doctor` and the webgpu tests.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as OrtTypes from 'onnxruntime-node';
import { createSession, type Runtime } from './runtime.ts';

export interface NodeRun {
  /** Node name (n<i>_<Op> for the harness's own nodes; optimiser-made nodes have other names). */
  name: string;
  op: string;
  /** CPUExecutionProvider, WebGpuExecutionProvider, … */
  provider: string;
  /** Output types and shapes, e.g. "float[1,48,64]". */
  outputs: string[];
  outputBytes: number;
}

export interface RunPlacement {
  nodes: NodeRun[];
  /** Graph inputs given (host → device), graph outputs read back (device → host), in bytes. */
  feedBytes: number;
  fetchBytes: number;
  /** Copies ONNX Runtime inserted inside the graph between the CPU provider and the device, in bytes. */
  toDeviceBytes: number;
  toHostBytes: number;
}

const FLOAT_TYPES = new Set(['float', 'float16', 'bfloat16', 'double']);

/**
 * A node is compute (not shape arithmetic) when it makes floating-point values beyond a single scalar. Not compute:
 * the index, mask and shape tensors (int64, bool) that ONNX Runtime keeps on the CPU provider by design, and a Cast
 * of such an index vector to float (the positions [T] fed to rotary angles), whose values come from shapes alone.
 */
export function isCompute(n: NodeRun): boolean {
  return n.outputs.some((o) => {
    const m = /^(\w+)\[(.*)\]$/.exec(o);
    if (!m || !FLOAT_TYPES.has(m[1])) return false;
    const dims = m[2] === '' ? [] : m[2].split(',').map(Number);
    if (n.op === 'Cast' && dims.length <= 1) return false;
    return dims.reduce((p, d) => p * d, 1) > 1;
  });
}

export const isCpu = (n: NodeRun) => n.provider === 'CPUExecutionProvider';
const isCopy = (n: NodeRun) => n.op === 'MemcpyFromHost' || n.op === 'MemcpyToHost';

const tensorBytes = (t: OrtTypes.Tensor) => {
  const d = t.data as { byteLength?: number; length: number };
  return d.byteLength ?? d.length;
};

interface ProfileEvent {
  cat?: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; provider?: string; output_size?: string; output_type_shape?: Record<string, number[]>[] };
}

/**
 * Runs a graph once per feed set with ONNX Runtime's profiler on and returns, per run, every node's placement and the
 * bytes that crossed. `next(i, previous outputs)` gives the feeds of run i (null: stop), so a decoder's caches can be
 * carried. Outputs are disposed.
 */
export async function profileRuns(
  rt: Runtime,
  bytes: Uint8Array,
  weightsFolder: string | null,
  next: (i: number, prev: OrtTypes.InferenceSession.OnnxValueMapType | null) => Record<string, OrtTypes.Tensor> | null,
): Promise<RunPlacement[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cram-profile-'));
  try {
    const session = await createSession(rt, bytes, weightsFolder, { profilePrefix: join(dir, 'profile') });
    const io: { feedBytes: number; fetchBytes: number }[] = [];
    let prev: OrtTypes.InferenceSession.OnnxValueMapType | null = null;
    try {
      for (let i = 0; ; i++) {
        const feeds = next(i, prev);
        if (!feeds) break;
        const out = await session.run(feeds);
        io.push({
          feedBytes: Object.values(feeds).reduce((s, t) => s + tensorBytes(t), 0),
          fetchBytes: Object.values(out).reduce((s, t) => s + tensorBytes(t), 0),
        });
        if (prev) for (const t of Object.values(prev)) t.dispose?.();
        prev = out;
      }
      if (prev) for (const t of Object.values(prev)) t.dispose?.();
      session.endProfiling();
    } finally {
      await session.release();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('ONNX Runtime wrote no profile');
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
    return io.map((x, i) => {
      const r = runs[i];
      const nodes = events
        .filter(
          (e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && (!r || (e.ts >= r.ts && e.ts <= r.ts + r.dur)),
        )
        .map((e): NodeRun => ({
          name: e.name.slice(0, -'_kernel_time'.length),
          op: e.args?.op_name ?? '?',
          provider: e.args?.provider ?? '?',
          outputs: (e.args?.output_type_shape ?? []).flatMap((o) =>
            Object.entries(o).map(([t, s]) => `${t}[${s.join(',')}]`),
          ),
          outputBytes: Number(e.args?.output_size ?? 0),
        }));
      const sum = (op: string) => nodes.filter((n) => n.op === op).reduce((s, n) => s + n.outputBytes, 0);
      return {
        nodes: nodes.filter((n) => !isCopy(n)),
        ...x,
        toDeviceBytes: sum('MemcpyFromHost'),
        toHostBytes: sum('MemcpyToHost'),
      };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

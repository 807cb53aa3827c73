/**
 * `cram doctor [--backend webgpu] [--model m] [--json]`: for each graph the harness builds (objective with its
 * gradient, the no-vector baseline, one token of cached decoding, the one-step objective), which nodes the chosen
 * provider did not take (op types, output shapes and sizes) and the bytes that cross host ↔ device per call. Read
 * from ONNX Runtime's own profile (src/engine/placement.ts).
 */
import type { Command } from 'commander';
import type * as OrtTypes from 'onnxruntime-node';
import type { BackendChoice } from '../engine/backends.ts';
import type { NodeRun, RunPlacement } from '../engine/placement.ts';
import type { LoadedModel } from '../models/load.ts';
import type { Runtime } from '../engine/runtime.ts';
import { resolveModelDir } from '../paths/index.ts';
import { backendOption, positiveInt } from './options.ts';

export const DOCTOR_GRAPHS = ['objective', 'baseline', 'decode', 'one-step'] as const;
export type DoctorGraph = (typeof DOCTOR_GRAPHS)[number];

export interface GraphReport {
  graph: DoctorGraph;
  /** What one call is: a cramming step, a baseline evaluation, one generated token, a one-step training step. */
  call: string;
  nodes: number;
  /** Nodes on the CPU provider while another provider was chosen: compute nodes (floating-point values) listed. */
  fallbackCompute: { name: string; op: string; outputs: string[]; bytes: number }[];
  /** Shape arithmetic (int64/bool index, mask and shape values) left on the CPU provider, by op type. */
  fallbackShape: Record<string, number>;
  /** Bytes per call: graph inputs in (host → device), outputs read back (device → host), and copies ONNX Runtime
   * inserted between the CPU provider and the device inside the graph. */
  bytes: { inputsIn: number; outputsOut: number; copiesToDevice: number; copiesToHost: number; total: number };
}

export interface DoctorReport {
  model: string;
  backend: string;
  detail: string;
  batch: number;
  tokens: number;
  mem: number;
  graphs: GraphReport[];
}

const PROVIDER: Record<string, string> = {
  cpu: 'CPUExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
  cuda: 'CUDAExecutionProvider',
};

function summarise(
  graph: DoctorGraph,
  call: string,
  rt: Runtime,
  run: RunPlacement,
  isCompute: (n: NodeRun) => boolean,
): GraphReport {
  const fallback = rt.name === 'cpu' ? [] : run.nodes.filter((n) => n.provider !== PROVIDER[rt.name]);
  const fallbackShape: Record<string, number> = {};
  for (const n of fallback.filter((x) => !isCompute(x))) fallbackShape[n.op] = (fallbackShape[n.op] ?? 0) + 1;
  const b = {
    inputsIn: run.feedBytes,
    outputsOut: run.fetchBytes,
    copiesToDevice: run.toDeviceBytes,
    copiesToHost: run.toHostBytes,
  };
  return {
    graph,
    call,
    nodes: run.nodes.length,
    fallbackCompute: fallback
      .filter(isCompute)
      .map((n) => ({ name: n.name, op: n.op, outputs: n.outputs, bytes: n.outputBytes })),
    fallbackShape,
    bytes: { ...b, total: rt.name === 'cpu' ? 0 : b.inputsIn + b.outputsOut + b.copiesToDevice + b.copiesToHost },
  };
}

/** Profiles one call of each graph of `loaded` on `rt` (B texts of N tokens, K vectors; random ids and vectors). */
export async function placementReport(
  rt: Runtime,
  loaded: LoadedModel,
  opts: { batch: number; tokens: number; mem: number; graphs?: readonly DoctorGraph[] },
): Promise<DoctorReport> {
  const { profileRuns, isCompute } = await import('../engine/placement.ts');
  const { serialize } = await import('../engine/graph/onnx.ts');
  const { buildObjectiveGraph, buildDecodeGraph, buildOneStepGraph } = await import('../cram/objective.ts');
  const { needsFloat32Cache, useFloat32Cache } = await import('../models/float32-cache.ts');
  const { initialState } = await import('../cram/generate.ts');
  const model = loaded.model;
  if (rt.name === 'webgpu') model.weights.maxBlockBytes = 1 << 30; // as CompiledModel does
  if (needsFloat32Cache(model.weights)) useFloat32Cache(model.weights, loaded.weightsSha256);
  const folder = model.weights.folder || null;
  const { ort } = rt;
  const { batch: B, tokens: N, mem: K } = opts;
  const d = model.embedDim;
  let seed = 1;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const ids = BigInt64Array.from({ length: B * N }, () => BigInt(2 + Math.floor(rand() * (model.numEmbeddings - 2))));
  const vec = (n: number) => Float32Array.from({ length: n }, () => (rand() - 0.5) * 0.02);
  const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
  const i64 = (data: BigInt64Array, dims: number[]) => new ort.Tensor('int64', data, dims);
  const nTokens = () =>
    i64(
      BigInt64Array.from({ length: B }, () => BigInt(N)),
      [B],
    );
  const once = (feeds: () => Record<string, OrtTypes.Tensor>) => (i: number) => (i === 0 ? feeds() : null);
  const graphs = opts.graphs ?? DOCTOR_GRAPHS;
  const out: GraphReport[] = [];
  for (const name of graphs) {
    if (name === 'objective' || name === 'baseline') {
      const grad = name === 'objective';
      const k = grad ? K : 0;
      const [run] = await profileRuns(
        rt,
        serialize(buildObjectiveGraph(model, { grad })),
        folder,
        once(() => ({ mem: f32(vec(B * k * d), [B, k, d]), ids: i64(ids, [B, N]), n_tokens: nTokens() })),
      );
      out.push(
        summarise(
          name,
          grad ? 'one cramming step (loss, accuracy, per-token CE, gradient)' : 'one evaluation without vectors',
          rt,
          run,
          isCompute,
        ),
      );
    } else if (name === 'decode') {
      const { graph, carried } = buildDecodeGraph(model);
      const runs = await profileRuns(rt, serialize(graph), folder, (i, prev) => {
        if (i > 1) return null;
        const feeds: Record<string, OrtTypes.Tensor> = {
          prefix: f32(vec(B * (i === 0 ? K : 0) * d), [B, i === 0 ? K : 0, d]),
          ids: i64(ids.slice(0, B), [B, 1]),
          past_length: i64(BigInt64Array.from([BigInt(i === 0 ? 0 : K + 1)]), [1]),
        };
        for (const c of carried)
          feeds[`past.${c.name}`] = i === 0 ? initialState(c, B, ort) : prev![`present.${c.name}`];
        return feeds;
      });
      out.push(summarise(name, 'one generated token (after a prefill of the vectors and BOS)', rt, runs[1], isCompute));
    } else {
      const [run] = await profileRuns(
        rt,
        serialize(buildOneStepGraph(model, { grad: true })),
        folder,
        once(() => ({
          e: f32(vec(B * d), [B, 1, d]),
          m: f32(vec(B * d), [B, 1, d]),
          ids: i64(ids, [B, N]),
          n_tokens: nTokens(),
        })),
      );
      out.push(summarise(name, 'one one-step training step (loss, gradients of e and m)', rt, run, isCompute));
    }
  }
  return { model: loaded.name, backend: rt.name, detail: rt.detail, batch: B, tokens: N, mem: K, graphs: out };
}

const kib = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;

function printReport(r: DoctorReport): void {
  const w = (s: string) => process.stdout.write(s + '\n');
  w(`${r.model} on ${r.backend} (${r.detail}); ${r.batch} text(s) of ${r.tokens} tokens, K = ${r.mem}`);
  for (const g of r.graphs) {
    w(`\n${g.graph}: ${g.call}; ${g.nodes} nodes run`);
    if (r.backend === 'cpu') {
      w('  every node on the CPU provider; nothing crosses (host memory)');
      continue;
    }
    const shape = Object.entries(g.fallbackShape)
      .map(([op, n]) => `${op} ×${n}`)
      .join(', ');
    w(`  compute nodes on the CPU provider: ${g.fallbackCompute.length === 0 ? 'none' : ''}`);
    for (const n of g.fallbackCompute) w(`    ${n.op} (${n.name}) → ${n.outputs.join(', ')} = ${kib(n.bytes)}`);
    w(`  shape arithmetic on the CPU provider: ${shape || 'none'}`);
    const b = g.bytes;
    w(
      `  bytes per call: inputs in ${kib(b.inputsIn)}, outputs out ${kib(b.outputsOut)}, CPU↔device copies inside the graph ` +
        `${kib(b.copiesToDevice)} to the device and ${kib(b.copiesToHost)} to the host; total ${kib(b.total)}`,
    );
  }
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'for each graph (objective, baseline, decode, one-step): the nodes the chosen provider did not take and the bytes crossing host↔device per call',
    )
    .option('--model <m>', 'bundled model name or model folder', 'gutenberg-llama-xs')
    .addOption(backendOption())
    .option('--tokens <n>', 'tokens per text', '32')
    .option('--batch <n>', 'texts per call', '1')
    .option('--mem <k>', '[mem] vectors per text', '1')
    .option('--verbose', 'say which backends auto tried and why it passed over them')
    .option('--json', 'one JSON object on stdout')
    .action(
      async (opts: {
        model: string;
        backend: BackendChoice;
        tokens: string;
        batch: string;
        mem: string;
        verbose?: boolean;
        json?: boolean;
      }) => {
        if (opts.verbose) process.env.CRAM_VERBOSE = '1';
        const tokens = positiveInt(opts.tokens, '--tokens');
        const batch = positiveInt(opts.batch, '--batch');
        const mem = positiveInt(opts.mem, '--mem');
        if (tokens < 2) throw new Error('--tokens must be at least 2 (one prediction)');
        const { initRuntime } = await import('../engine/runtime.ts');
        const { loadModel } = await import('../models/load.ts');
        const rt = await initRuntime(opts.backend);
        const loaded = await loadModel(resolveModelDir(opts.model), { tokenizer: false });
        if (tokens + mem > loaded.model.maxPositions)
          throw new Error(
            `--tokens ${tokens} + --mem ${mem} exceeds the model's ${loaded.model.maxPositions} positions`,
          );
        const report = await placementReport(rt, loaded, { batch, tokens, mem });
        if (opts.json) process.stdout.write(JSON.stringify(report) + '\n');
        else printReport(report);
      },
    );
}

/**
 * Runs the one-step items on one loaded model: first the autoregressive grid of their texts (capacity kind,
 * resumable), then the one-pass problems (a shared-m group runs whole); each finished text is decoded, timed when
 * planned, and recorded.
 */
import type { ExperimentConfig } from '../../../config/schema.ts';
import { cramSettings } from '../../../config/settings.ts';
import { initMemory } from '../../../cram/init.ts';
import { idsSha256 } from '../../../cram/vector-file.ts';
import { LOSSLESS_THRESHOLD } from '../../../metrics/aggregate.ts';
import { median } from '../../../metrics/stats.ts';
import { saveTextVectors } from '../../../run/crammed-text.ts';
import type { OneStepJob, OneStepOutcome, OneStepSettings } from '../../../run/model-session.ts';
import { fileSafe } from '../../../report/format.ts';
import type { RunContext } from '../../kind.ts';
import { runGrid } from '../capacity/grid.ts';
import { optionsOf } from './options.ts';
import type { OneStepItem } from './plan.ts';
import { CURVES_FILE, type OneStepCurve, type OneStepRecord } from './records.ts';

export function oneStepSettings(config: ExperimentConfig, recordTrajectory: boolean): OneStepSettings {
  return cramSettings(config, { recordTrajectory });
}

/** Median and fastest wall time of `repeats` runs after one warm-up (a new shape may set up kernels on its first run). */
export async function timeIt(repeats: number, fn: () => Promise<unknown>): Promise<{ median: number; min: number }> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return { median: median(ms), min: Math.min(...ms) };
}

export async function run(ctx: RunContext<OneStepRecord>, todo: OneStepItem[]): Promise<void> {
  const { config, session } = ctx;
  const o = optionsOf(config);
  if (o.compare_autoregressive)
    await runGrid(
      ctx as RunContext<object>,
      todo.flatMap((it) => it.ar),
    );
  if (ctx.shouldStop()) return;
  const wanted = new Map(todo.map((it) => [it.key, it]));
  // Every member of a group with a missing record runs again (the group is one problem); only missing records are written.
  const jobs: OneStepJob[] = [];
  const seen = new Set<string>();
  for (const it of todo) {
    if (it.group) {
      if (seen.has(it.group.name)) continue;
      seen.add(it.group.name);
      for (const m of it.group.members)
        jobs.push({ key: m.key, targets: m.ids.slice(1), seed: m.seed, group: it.group.name });
    } else {
      jobs.push({ key: it.key, targets: it.ids.slice(1), seed: it.seed });
    }
  }
  const greedyK = config.n_mem[0];
  const std = session.embeddingStd();
  await session.oneStep(
    jobs,
    oneStepSettings(
      config,
      todo.some((it) => it.recordCurve),
    ),
    {
      shouldStop: ctx.shouldStop,
      onStep: (p) => ctx.progress({ accuracy: p.meanAccuracy, active: p.active, detail: `${session.name} one-step` }),
      onFinish: async (out: OneStepOutcome) => {
        const it = wanted.get(out.key);
        if (!it) return; // a member of a rerun group whose record exists already
        const [base] = await session.evaluateMany(null, 0, [it.ids]);
        const [decoded] = await session.oneStepDecode(out.e, out.m, out.nTargets);
        const targets = it.ids.slice(1);
        let onepass: { median: number; min: number } | null = null;
        let greedy: { median: number; min: number } | null = null;
        if (it.timed && o.timing_samples > 0) {
          onepass = await timeIt(o.timing_repeats, () => session.oneStepDecode(out.e, out.m, out.nTargets));
          // Greedy decoding cost depends on the length, not on the vectors' values: seeded vectors, all tokens generated.
          const vectors = initMemory(greedyK, session.embedDim, std, `${it.seed}|greedy-timing`);
          greedy = await timeIt(o.timing_repeats, () =>
            session.generate([{ vectors }, { ids: [it.ids[0]] }], out.nTargets, { eosId: null }),
          );
        }
        let vectorFile = '';
        if (config.save_vectors) {
          vectorFile = `vectors/one-step/${it.model}/${fileSafe(it.source)}/${it.mode}/L${it.length}-i${it.sampleIndex}.safetensors`;
          const mem = new Float32Array(2 * out.embedDim);
          mem.set(out.e, 0);
          mem.set(out.m, out.embedDim);
          saveTextVectors(ctx.file(vectorFile), session, mem, 2, it.ids, {
            run: config.name,
            layout: 'one-step [e; m]: input e, then m repeated; position i predicts token i+1',
            m_sharing: it.mode,
            group: out.group ?? '',
            source: it.source,
            length: it.length,
            sample_index: it.sampleIndex,
          });
        }
        if (it.recordCurve && out.trajectory) {
          ctx.append(CURVES_FILE, {
            model: it.model,
            source: it.source,
            length: it.length,
            m_sharing: it.mode,
            sample_index: it.sampleIndex,
            ...out.trajectory,
          } satisfies OneStepCurve);
        }
        ctx.record({
          run: config.name,
          model: it.model,
          source: it.source,
          length: it.length,
          n_tokens: it.ids.length,
          n_targets: out.nTargets,
          m_sharing: it.mode,
          group: out.group ?? '',
          group_size: out.groupSize,
          sample_index: it.sampleIndex,
          seed: config.seed,
          original_loss: base.loss,
          original_accuracy: base.accuracy,
          best_accuracy: out.bestAccuracy,
          loss_at_best_accuracy: out.lossAtBestAccuracy,
          best_loss: out.bestLoss,
          success: out.bestAccuracy >= LOSSLESS_THRESHOLD,
          steps: out.steps,
          best_step: out.bestStep,
          stop_reason: out.stopReason,
          onepass_correct: decoded.filter((t, i) => t === targets[i]).length,
          decode_onepass_ms: onepass?.median ?? null,
          decode_onepass_min_ms: onepass?.min ?? null,
          decode_greedy_ms: greedy?.median ?? null,
          decode_greedy_min_ms: greedy?.min ?? null,
          decode_speedup: onepass && greedy ? greedy.min / onepass.min : null,
          greedy_n_mem: greedy === null ? null : greedyK,
          seconds: out.seconds,
          embed_dim: out.embedDim,
          embedding_rows: session.numEmbeddings,
          ids_sha256: idsSha256(it.ids),
          vector_file: vectorFile,
        });
      },
    },
  );
}

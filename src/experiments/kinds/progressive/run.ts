/**
 * Runs the progressive items on one loaded model: first the fixed grid of their texts (capacity kind, resumable), then
 * progressive cramming of every text at its own stage length; each finished text appends its stages, its curve (when
 * recorded) and its record.
 */
import type { ExperimentConfig } from '../../../config/schema.ts';
import { cramSettings } from '../../../config/settings.ts';
import { idsSha256 } from '../../../cram/vector-file.ts';
import { saveTextVectors } from '../../../run/crammed-text.ts';
import type { ProgressiveSettings } from '../../../run/model-session.ts';
import { fileSafe } from '../../../report/format.ts';
import type { RunContext } from '../../kind.ts';
import { runGrid } from '../capacity/grid.ts';
import { optionsOf } from './options.ts';
import type { ProgressiveItem } from './plan.ts';
import {
  CURVES_FILE,
  STAGES_FILE,
  type ProgressiveCurve,
  type ProgressiveRecord,
  type SampleRecord,
  type StagesLine,
} from './records.ts';

export function progressiveSettings(config: ExperimentConfig): ProgressiveSettings {
  const o = optionsOf(config);
  const { optimizer, maxBatch, maxBatchTokens } = cramSettings(config);
  return {
    optimizer,
    schedule: o.schedule,
    startLength: o.start_length,
    step: o.step,
    stageSteps: o.stage_steps,
    maxSteps: o.text_steps,
    lrReset: o.lr_reset,
    maxBatch,
    maxBatchTokens,
  };
}

const largest = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

export async function run(ctx: RunContext<ProgressiveRecord>, todo: ProgressiveItem[]): Promise<void> {
  const { config, session } = ctx;
  const o = optionsOf(config);
  // 1. The fixed grid for these texts (skipped for grid texts already done).
  const grid = o.compare_capacity
    ? await runGrid(
        ctx as RunContext<object>,
        todo.flatMap((it) => it.grid),
      )
    : new Map<string, SampleRecord>();
  if (ctx.shouldStop()) return;
  // 2. Progressive cramming, every text at its own stage length.
  const byKey = new Map(todo.map((it) => [it.key, it]));
  await session.progressive(
    todo.map((it) => ({ key: it.key, ids: it.ids, nMem: it.nMem, seed: it.seed, recordTrajectory: it.recordCurve })),
    progressiveSettings(config),
    {
      shouldStop: ctx.shouldStop,
      onStep: (p) =>
        ctx.progress({
          accuracy: p.meanAccuracy,
          active: p.active,
          detail: `${session.name} progressive, mean stage ${p.meanStage.toFixed(1)} tokens`,
        }),
      onFinish: (out) => {
        const it = byKey.get(out.key)!;
        const base = { model: it.model, source: it.source, n_mem: it.nMem, sample_index: it.sampleIndex };
        let vectorFile = '';
        if (config.save_vectors) {
          vectorFile = `vectors/progressive/${it.model}/${fileSafe(it.source)}/K${it.nMem}/i${it.sampleIndex}.safetensors`;
          saveTextVectors(ctx.file(vectorFile), session, out.memory, out.nMem, it.ids, {
            run: config.name,
            source: it.source,
            sample_index: it.sampleIndex,
            schedule: o.schedule,
            horizon: out.horizon,
            passed_length: out.passedLength,
          });
        }
        const gridRecords = it.grid.map((j) => grid.get(j.key)).filter((r): r is SampleRecord => r !== undefined);
        const stages: StagesLine = {
          ...base,
          stages: out.stages.map((s) => ({
            length: s.length,
            steps: s.steps,
            outcome: s.outcome,
            reset: s.reset,
            best_accuracy: s.bestAccuracy,
            greedy_rejections: s.greedyRejections,
          })),
        };
        ctx.append(STAGES_FILE, stages);
        if (out.trajectory) ctx.append(CURVES_FILE, { ...base, ...out.trajectory } satisfies ProgressiveCurve);
        ctx.record({
          run: config.name,
          ...base,
          seed: config.seed,
          schedule: o.schedule,
          n_tokens: out.nTokens,
          horizon: out.horizon,
          passed_length: out.passedLength,
          failed_length: out.failedLength,
          reached_full: out.horizon >= out.nTokens,
          stages: out.stages.length,
          stages_passed: out.stages.filter((s) => s.outcome === 'passed').length,
          steps: out.steps,
          lr_resets: out.lrResets,
          greedy_rejections: out.stages.reduce((a, s) => a + s.greedyRejections, 0),
          stop_reason: out.stopReason,
          original_accuracy: out.originalAccuracy,
          original_ce_horizon: out.originalTokenCe.slice(0, Math.max(0, out.horizon - 1)).reduce((a, b) => a + b, 0),
          grid_solved_max: o.compare_capacity
            ? largest(gridRecords.filter((r) => r.best_accuracy === 1).map((r) => r.length))
            : null,
          grid_exact_max: o.compare_capacity
            ? largest(gridRecords.filter((r) => r.regenerated_exact).map((r) => r.length))
            : null,
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

/**
 * Crams the planned jobs on one loaded model; each finished text goes through `crammedText` (src/run/crammed-text.ts:
 * regeneration check, vector file, record fields, shared with `cram run`) and becomes one record, and the first
 * `curves` texts' per-step curves go to curves.jsonl.
 */
import { join } from 'node:path';
import { cramSettings } from '../../../config/settings.ts';
import { crammedText } from '../../../run/crammed-text.ts';
import { fileSafe } from '../../../report/format.ts';
import type { RunContext } from '../../kind.ts';
import type { PlannedJob } from './plan.ts';
import { CURVES_FILE, type CurveRecord, type SampleRecord } from './records.ts';

export async function run(ctx: RunContext<SampleRecord>, todo: PlannedJob[]): Promise<void> {
  const { config, session } = ctx;
  const byKey = new Map<string, PlannedJob>(todo.map((j) => [j.key, j]));
  await session.cram(todo, cramSettings(config, { recordTrajectory: todo.some((j) => j.recordCurve) }), {
    shouldStop: ctx.shouldStop,
    onStep: (p) =>
      ctx.progress({
        accuracy: p.meanAccuracy,
        active: p.active,
        detail: `${session.name} K=${todo[0]?.nMem ?? '-'}…`,
      }),
    onFinish: async (o) => {
      const job = byKey.get(o.key)!;
      const vectorFile = join(
        'vectors',
        job.model,
        fileSafe(job.source),
        `K${o.nMem}`,
        `L${job.length}-i${job.sampleIndex}.safetensors`,
      );
      const t = await crammedText(session, o, job.ids, {
        regenerate: config.regenerate,
        vectorPath: config.save_vectors ? ctx.file(vectorFile) : null,
        extra: { run: config.name, source: job.source, length: job.length, sample_index: job.sampleIndex },
      });
      const f = t.fields;
      ctx.record({
        run: config.name,
        model: job.model,
        source: job.source,
        length: job.length,
        n_tokens: f.n_tokens,
        n_mem: f.n_mem,
        sample_index: job.sampleIndex,
        seed: config.seed,
        original_loss: f.original_loss,
        original_accuracy: f.original_accuracy,
        best_loss: f.best_loss,
        best_accuracy: f.best_accuracy,
        loss_at_best_accuracy: f.loss_at_best_accuracy,
        original_ce: f.original_ce,
        compressed_ce: f.compressed_ce,
        info_gain_nats: f.info_gain_nats,
        info_gain_bits: f.info_gain_bits,
        token_gain: f.token_gain,
        steps: f.steps,
        best_step: f.best_step,
        stop_reason: f.stop_reason,
        regenerated_exact: f.regenerated_exact,
        regenerated_prefix_tokens: f.regenerated_prefix_tokens,
        seconds: f.seconds,
        embed_dim: f.embed_dim,
        embedding_rows: f.embedding_rows,
        ids_sha256: f.ids_sha256,
        vector_file: config.save_vectors ? vectorFile : '',
      });
      if (job.recordCurve && o.trajectory) {
        const curve: CurveRecord = {
          model: job.model,
          source: job.source,
          length: job.length,
          n_mem: o.nMem,
          sample_index: job.sampleIndex,
          ...o.trajectory,
        };
        ctx.append(CURVES_FILE, curve);
      }
    },
  });
}

/**
 * The one-step plan: per (source, m sharing, length, text) one item, the members of its shared-m group, whether it is
 * timed, and (with `compare_autoregressive`) the capacity kind's grid jobs of the same text and length.
 */
import { sourceSpec } from '../../../config/schema.ts';
import { loadSourceTexts, sourceName } from '../../../data/sources.ts';
import type { Plan, PlanContext, SkippedText, WorkItem } from '../../kind.ts';
import { capacity } from '../capacity/index.ts';
import type { PlannedJob } from '../capacity/plan.ts';
import { optionsOf } from './options.ts';
import { oneStepKey, type MSharing } from './records.ts';

interface Member {
  key: string;
  ids: number[];
  seed: string;
  sampleIndex: number;
}

export interface OneStepItem extends WorkItem {
  model: string;
  source: string;
  length: number;
  mode: MSharing;
  sampleIndex: number;
  ids: number[];
  seed: string;
  /** Shared m: the group's name and every member (a group is rerun whole if only some of it is missing). */
  group: { name: string; members: Member[] } | null;
  timed: boolean;
  recordCurve: boolean;
  /** The autoregressive grid jobs of this text at this length (one per K). */
  ar: PlannedJob[];
}

export function plan(ctx: PlanContext): Plan<OneStepItem> {
  const { config, model, tokenizer } = ctx;
  const o = optionsOf(config);
  const maxLength = Math.max(...config.lengths);
  const ar = o.compare_autoregressive ? capacity.plan(ctx) : null;
  if (maxLength - 1 > model.maxPositions)
    throw new Error(
      `lengths: ${maxLength} needs ${maxLength - 1} positions, but ${model.name} takes ${model.maxPositions} (${model.positionsFrom})`,
    );
  const items: OneStepItem[] = [];
  const skipped: SkippedText[] = ar ? ar.skipped : [];
  for (const s of config.sources) {
    const spec = sourceSpec(s);
    const source = sourceName(spec);
    const random = spec.kind === 'random-words';
    const randomMax = config.random_max_length ?? maxLength;
    const texts = loadSourceTexts(spec, tokenizer, {
      count: random ? (config.random_samples ?? config.samples) : config.samples,
      maxLength: random ? randomMax : maxLength,
      seed: config.seed,
      onProgress: (done, total) => ctx.progress(`${model.name}: tokenizing ${source}, ${done}/${total} texts`),
    });
    const lengths = random ? ['random'] : config.lengths;
    for (const mode of o.m_sharing) {
      for (const l of lengths) {
        const here = texts
          .filter((t) => random || t.ids.length >= (l as number))
          .filter((t) => (random ? t.ids.length : (l as number)) >= 2);
        if (!random && !ar) {
          for (const t of texts)
            if (t.ids.length < (l as number) && mode === o.m_sharing[0])
              skipped.push({
                model: model.name,
                source,
                length: l as number,
                sample_index: t.index,
                n_tokens: t.ids.length,
              });
        }
        const members = here.map((t) => {
          const length = random ? (t.length ?? t.ids.length) : (l as number);
          return {
            t,
            length,
            member: {
              key: oneStepKey(model.name, source, mode, length, t.index),
              ids: t.ids.slice(0, length),
              seed: `${config.seed}|${source}|${t.index}|one-step`,
              sampleIndex: t.index,
            },
          };
        });
        members.forEach(({ t, length, member }, i) => {
          const g = Math.floor(i / o.m_group_size);
          const group =
            mode === 'shared'
              ? {
                  name: `${config.seed}|${source}|${random ? 'random' : `L${length}`}|g${g}`,
                  members: members.slice(g * o.m_group_size, (g + 1) * o.m_group_size).map((x) => x.member),
                }
              : null;
          items.push({
            key: member.key,
            positions: Math.max(length - 1, 1),
            model: model.name,
            source,
            length,
            mode,
            sampleIndex: t.index,
            ids: member.ids,
            seed: member.seed,
            group,
            timed: i < o.timing_samples,
            recordCurve: t.index < config.curves,
            ar: ar
              ? ar.items.filter((j) => j.source === source && j.sampleIndex === t.index && j.length === length)
              : [],
          });
        });
      }
    }
  }
  // Per-text problems of similar lengths side by side (little padding); shared groups stay together.
  items.sort(
    (a, b) =>
      (a.mode === b.mode ? 0 : a.mode === 'per_text' ? -1 : 1) || a.length - b.length || a.key.localeCompare(b.key),
  );
  return { items, skipped };
}

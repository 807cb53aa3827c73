/**
 * The solution-space plan: per text R restart items, then one text item (its analysis) once its restarts are done,
 * and one group item per (model, source, L, K) once every restart of the group is done.
 */
import type { Plan, PlanContext, WorkItem } from '../../kind.ts';
import { planStudyTexts, type StudyText } from '../../study-texts.ts';
import type { Config } from './options.ts';
import { analysisKey, groupKey, interKey, restartKey } from './records.ts';

export interface RestartItem extends WorkItem {
  type: 'restart';
  text: StudyText;
  model: string;
  nMem: number;
  restart: number;
  seed: string;
}
export interface TextItem extends WorkItem {
  type: 'text';
  text: StudyText;
  model: string;
  nMem: number;
  restartKeys: string[];
}
export interface GroupItem extends WorkItem {
  type: 'group';
  model: string;
  source: string;
  length: number;
  nMem: number;
  texts: StudyText[];
  restartKeys: string[];
}
export type Item = RestartItem | TextItem | GroupItem;

export function plan(ctx: PlanContext): Plan<Item> {
  const config = ctx.config as Config;
  const { texts, skipped } = planStudyTexts(ctx, { kind: 'solution-space' });
  const model = ctx.model.name;
  const restarts: RestartItem[] = [];
  const analyses: TextItem[] = [];
  const groups: GroupItem[] = [];
  for (const nMem of config.n_mem) {
    const byGroup = new Map<string, StudyText[]>();
    for (const t of texts) {
      const g = groupKey(model, t.source, t.length, nMem);
      byGroup.set(g, [...(byGroup.get(g) ?? []), t]);
      const keys: string[] = [];
      for (let r = 0; r < config.restarts; r++) {
        const key = restartKey(g, t.index, r);
        keys.push(key);
        // Restart 0 starts where the capacity sweep starts this text; the others from their own streams.
        const seed =
          r === 0
            ? `${config.seed}|${t.source}|${t.index}|K${nMem}`
            : `${config.seed}|${t.source}|${t.index}|K${nMem}|restart${r}`;
        restarts.push({ type: 'restart', key, positions: nMem + t.ids.length, text: t, model, nMem, restart: r, seed });
      }
      analyses.push({
        type: 'text',
        key: analysisKey(g, t.index),
        positions: nMem + t.ids.length,
        text: t,
        model,
        nMem,
        restartKeys: keys,
      });
    }
    for (const [g, ts] of byGroup) {
      groups.push({
        type: 'group',
        key: interKey(g),
        positions: 0,
        model,
        source: ts[0].source,
        length: ts[0].length,
        nMem,
        texts: ts,
        restartKeys: ts.flatMap((t) => Array.from({ length: config.restarts }, (_, r) => restartKey(g, t.index, r))),
      });
    }
  }
  restarts.sort((a, b) => a.nMem - b.nMem || a.text.ids.length - b.text.ids.length || a.key.localeCompare(b.key));
  return { items: [...restarts, ...analyses, ...groups], skipped };
}

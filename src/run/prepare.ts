/**
 * Everything a run checks before it creates its folder or writes a file: the config (fields, bounds, duplicates,
 * names), the models (folders, config.json, tokenizers; positions read without loading weights), the sources (files
 * readable, texts long enough) and the kind's plan (every item within the model's positions). No tensor code here.
 */
import { join, resolve } from 'node:path';
import { ConfigError } from '../config/load-config.ts';
import { PATH_SEGMENT, type ExperimentConfig } from '../config/schema.ts';
import type { ExperimentKind, SkippedText, WorkItem } from '../experiments/kind.ts';
import { experimentKind, loadExperimentConfig } from '../experiments/kinds/index.ts';
import { describeModel, loadTokenizer, type ModelInfo } from './model-info.ts';
import { ProgressLine } from './progress.ts';

export interface PreparedModel {
  info: ModelInfo;
  items: WorkItem[];
  skipped: SkippedText[];
}

export interface PreparedRun {
  configPath: string;
  config: ExperimentConfig;
  /** Its kind (kinds differ in record types, hence `any`). */
  kind: ExperimentKind<WorkItem, any>;
  runDir: string;
  models: PreparedModel[];
}

/** Validates and plans a config; throws a one-line error naming the file and the problem, before anything is written. */
export function prepareExperiment(configPath: string, opts: { quiet?: boolean } = {}): PreparedRun {
  const config = loadExperimentConfig(configPath);
  const fail = (msg: string): never => {
    throw new ConfigError(`${configPath}: ${msg}`);
  };
  const kind = experimentKind(config.experiment);
  const runDir = join(resolve(config.output_dir), config.name);
  const infos: ModelInfo[] = [];
  for (const m of config.models) {
    try {
      infos.push(describeModel(m));
    } catch (e) {
      fail(`models: ${(e as Error).message}`);
    }
  }
  const byName = new Map<string, string>();
  for (const [i, info] of infos.entries()) {
    if (!PATH_SEGMENT.test(info.name))
      fail(`models[${i}]: the folder name "${info.name}" becomes a folder of the results; rename the model folder`);
    const other = byName.get(info.name);
    if (other !== undefined)
      fail(
        `models: "${other}" and "${config.models[i]}" are both named "${info.name}" (the folder name records use): their records would collide; rename one folder`,
      );
    byName.set(info.name, config.models[i]);
  }
  const line = new ProgressLine();
  const models: PreparedModel[] = [];
  for (const info of infos) {
    let plan;
    try {
      const tokenizer = loadTokenizer(info);
      plan = kind.plan({
        config,
        model: info,
        tokenizer,
        progress: (d) => {
          if (!opts.quiet) line.update((el) => `planning: ${d} (${el.toFixed(0)} s)`);
        },
      });
    } catch (e) {
      return fail((e as Error).message);
    }
    const worst = plan.items.reduce<WorkItem | null>(
      (w, it) => (w === null || it.positions > w.positions ? it : w),
      null,
    );
    if (worst && worst.positions > info.maxPositions) {
      fail(
        `${worst.key} needs ${worst.positions} positions (vectors + tokens) but ${info.name} takes ${info.maxPositions} (${info.positionsFrom}); lower lengths or n_mem`,
      );
    }
    models.push({ info, items: plan.items, skipped: plan.skipped });
  }
  if (!opts.quiet) line.done();
  return { configPath, config, kind, runDir, models };
}

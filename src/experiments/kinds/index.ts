/**
 * Every experiment kind, by the name a config gives in `experiment:`. A new kind is a module in this folder
 * (see ../kind.ts for what it provides) and one entry here.
 */
import { configKind, parseConfig, readConfigFile } from '../../config/load-config.ts';
import type { ExperimentConfig } from '../../config/schema.ts';
import type { ExperimentKind, WorkItem } from '../kind.ts';
import { capacity } from './capacity/index.ts';
import { oneStep } from './one-step/index.ts';
import { progressive } from './progressive/index.ts';
import { contextAblation } from './context-ablation/index.ts';
import { sideEffects } from './side-effects/index.ts';
import { solutionSpace } from './solution-space/index.ts';

/** Any kind: kinds differ in item and record types. */
type AnyKind = ExperimentKind<WorkItem, any>;

export const KINDS: Readonly<Record<string, AnyKind>> = {
  capacity,
  progressive,
  'one-step': oneStep,
  'solution-space': solutionSpace,
  'context-ablation': contextAblation,
  'side-effects': sideEffects,
};

export const KIND_NAMES: readonly string[] = Object.keys(KINDS);

export function experimentKind(name: string): AnyKind {
  const k = KINDS[name];
  if (!k) throw new Error(`no experiment kind "${name}"; kinds: ${KIND_NAMES.join(', ')}`);
  return k;
}

/** Validates a parsed config against the common fields and the fields of the kind it names. */
export function parseExperimentConfig(raw: unknown, where: string): ExperimentConfig {
  return parseConfig(raw, where, experimentKind(configKind(raw, where, KIND_NAMES)).options);
}

/** Reads and validates a config file (YAML or JSON); errors name the file, the field and what is allowed. */
export function loadExperimentConfig(path: string): ExperimentConfig {
  return parseExperimentConfig(readConfigFile(path), path);
}

/**
 * Every experiment kind, by the name a config gives in `experiment:`. A new kind is a module in this folder
 * (see ../kind.ts for what it provides) and one entry here.
 */
import type { ExperimentKind, WorkItem } from '../kind.ts';
import { capacity } from './capacity.ts';
import { oneStep } from './one-step.ts';
import { progressive } from './progressive.ts';
import { contextAblation } from './context-ablation.ts';
import { sideEffects } from './side-effects.ts';
import { solutionSpace } from './solution-space.ts';

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

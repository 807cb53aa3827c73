/**
 * The ONNX Runtime execution providers a config or `--backend` may name. Listed here, not imported from src/engine/backend.ts, so that
 * validating a config never loads the tensor engine; the type check below keeps the two lists equal.
 */
import type { BackendChoice } from '../engine/backend.ts';

export const BACKEND_CHOICES = ['auto', 'cpu', 'webgpu', 'cuda'] as const satisfies readonly BackendChoice[];

/** Fails to type-check when the engine offers a backend this list lacks. */
export const BACKEND_LIST_COMPLETE: [Exclude<BackendChoice, (typeof BACKEND_CHOICES)[number]>] extends [never] ? true : never = true;

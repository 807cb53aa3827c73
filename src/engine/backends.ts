/**
 * The backends a user can ask for: a leaf module (it imports nothing), so that config validation, the CLI and the
 * results code can name backends without loading the tensor engine. Starting one is runtime.ts's job.
 */
export const BACKENDS = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface BackendInfo {
  name: string;
  detail: string;
}

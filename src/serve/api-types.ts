/**
 * The memory service's request and response types, for TypeScript clients (`import type { … } from
 * 'cramming-harness/src/serve/api-types.ts'`). They mirror the route schemas in app.ts, which GET /openapi.json
 * publishes (OpenAPI 3.1); test/serve/openapi.test.ts checks that every route is in that document.
 */

/** Version of the HTTP contract (the OpenAPI document's info.version). */
export const API_VERSION = '1.2.0';

/** Every error: a stable code and a one-line message that says what to do. */
export interface ApiError {
  error: { code: string; message: string };
}

/** The model a memory or job belongs to; a memory is decoded only by a server running the same one. */
export interface ModelIdentity {
  name: string;
  weights_sha256: string;
  tokenizer_sha256: string;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface CreateMemoryRequest {
  text: string;
  tags?: string[];
}

/** 202: the job is queued; poll GET /v1/memories/{id}. */
export interface CreateMemoryResponse {
  id: string;
  status: 'queued';
  placeholder: string;
  tokens: number;
  model: ModelIdentity;
}

export interface MemoryProgress {
  phase: 'cram' | 'verify';
  round: number;
  segments: number;
  segments_exact: number;
  k_values: number[];
  round_steps: number;
  mean_accuracy: number;
  batch: { id: number; texts: number };
}

export interface Memory {
  id: string;
  placeholder: string;
  status: JobStatus;
  tags: string[];
  tokens: number;
  text_chars: number;
  text_sha256: string;
  created: string;
  started: string | null;
  finished: string | null;
  runs: number;
  model: ModelIdentity | null;
  /** Present when another model made it: listed, never decoded by this server. */
  other_model?: string;
  session?: string;
  /** A session's merge: the session memory this job re-crams with newer messages, and replaces when done. */
  replaces?: string;
  queue_position?: number;
  progress?: MemoryProgress | null;
  /** Done: vectors, segments, the compression figures (gzip, brotli, model code length). */
  stats?: Record<string, unknown> & { vectors: number; segments: number };
  store_id?: string;
  /** Failed: why. */
  error?: string;
  /** Queued or running while the store takes no writes: why it waits. */
  store_error?: string;
}

export interface ListMemoriesQuery {
  status?: JobStatus;
  tag?: string;
  /** 1–1000, default 100. */
  limit?: number;
  offset?: number;
}

export interface ListMemoriesResponse {
  memories: Memory[];
  /** Memories matching the filter in all. */
  total: number;
  limit: number;
  offset: number;
  /** The offset of the next page, null on the last. */
  next_offset: number | null;
  counts: Record<JobStatus, number>;
}

export interface MemoryTextResponse {
  id: string;
  text: string;
  sha256: string;
  verified: true;
}

export interface GenerateRequest {
  /** Text; one [mem-id-N] may open it (see docs/serve.md, "Placement"). */
  prompt: string;
  max_tokens?: number;
}

export interface GenerateResponse {
  text: string;
  tokens: number;
  ids: number[];
  finish_reason: 'eos' | 'length' | 'context_full';
  input: { vectors: number; tokens: number; memories: string[] };
  model: ModelIdentity;
}

export interface SessionMessageRequest {
  text: string;
}

export interface SessionMessageResponse {
  session: string;
  seq: number;
  tokens: number;
  /** The memory now compressing the session's oldest messages, if this message started one. */
  compressing: string | null;
  /**
   * Past the threshold, why no compression was queued: one of the session's is pending; the queue is full; the
   * session's memory is full (its text and the oldest message pass --max-text-tokens: messages stay text); or the
   * session is from before merging. null otherwise.
   */
  compression_skipped: 'pending' | 'queue_full' | 'memory_full' | 'legacy_layout' | null;
}

export type SessionPart =
  | { kind: 'memory'; id: string; tokens: number; vectors: number }
  | { kind: 'text'; text: string; tokens: number; compressing: string | null; compression_failed: string | null };

export interface SessionContextResponse {
  session: string;
  layout: SessionPart[];
  memories: string[];
  recent_text: string;
  text_tokens: number;
  vectors: number;
  positions: number;
  compressed_tokens: number;
  /** The session's memory cannot take its oldest message within the cap: newer messages stay text. */
  memory_full: boolean;
}

export interface SessionGenerateRequest {
  prompt?: string;
  max_tokens?: number;
}

export type SessionGenerateResponse = GenerateResponse & { session: string };

export interface HealthResponse {
  status: 'ok' | 'degraded';
  /** Degraded: why (the store takes no writes). */
  store_error?: string;
  model: string;
  model_identity: ModelIdentity;
  backend: string;
  uptime_s: number;
  queue: { queued: number; running: number; done: number; failed: number; generate_waiting: number };
  rss_bytes: number;
  batches: number;
  memory: { heap_used_bytes: number; worker_heap_used_bytes: number | null; external_bytes: number };
}

/**
 * The memory service: an HTTP JSON API (Fastify) over the compressor, the store and the model.
 *
 *   POST   /v1/memories                 {text, tags?} → 202 {id, status, placeholder}   (compressed in the background)
 *   GET    /v1/memories                 ?status=&tag=&limit=&offset=
 *   GET    /v1/memories/:id             status, progress, stats
 *   GET    /v1/memories/:id/text        the text regenerated from the vectors, SHA-256 checked
 *   DELETE /v1/memories/:id
 *   POST   /v1/generate                 {prompt, max_tokens?}: [mem-id-N] placeholders → that memory's vectors
 *   POST   /v1/sessions/:sid/messages   {text}: appended; past the threshold the oldest messages are compressed
 *                                       (with the session's memory's text: a session keeps one memory)
 *   GET    /v1/sessions/:sid/context    layout: memory ids + recent text
 *   POST   /v1/sessions/:sid/generate   {prompt?, max_tokens?}: continues from the session's context
 *   DELETE /v1/sessions/:sid
 *   GET    /v1/health                   (no token needed)
 *   GET    /openapi.json                OpenAPI 3.1, generated from the route schemas (no token needed)
 *
 * Every error is JSON {error: {code, message}} with a 4xx status that names the problem (5xx only for faults of the
 * server itself); nothing a client sends can stop the server.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { checkModel, decompress, type OpenModel } from '../compress/compress.ts';
import { parseMemoryFile, type MemoryFile } from '../compress/memory-file.ts';
import { sha256 } from '../cram/vector-file.ts';
import { greedyGenerate } from '../cram/generate.ts';
import {
  describeModel,
  isStoreWriteError,
  memoryId,
  MEMORY_ID_PATTERN,
  parseMemoryId,
  rowModel,
  sameModel,
  type ServeDb,
  type JobStatus,
  type MemoryRow,
  type ModelIdentity,
  type PartRow,
  type SessionSettings,
} from './db.ts';
import { openStore } from './open-store.ts';
import { checkLayout, Limiter, parsePrompt, partSizes, PromptError, promptParts, type PromptPiece } from './prompt.ts';
import { ThreadWorker } from './compression-thread.ts';
import { CompressWorker, modelIdentity, type QueueWorker, type WorkerOptions } from './queue.ts';
import { API_VERSION } from './api-types.ts';

export interface ServeOptions {
  model: OpenModel;
  /** SQLite database (the .mem store); default: the store's default path. */
  store?: string;
  /** Bearer token; when set, every route but /v1/health needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Most tokens in one memory's text or one session message. */
  maxTextTokens: number;
  /** Most jobs queued or running; beyond it POST answers 429 with Retry-After. */
  maxQueue: number;
  /** Largest max_tokens of a generate request. */
  maxNewTokens: number;
  /** Generate / decompress requests run one at a time; at most this many wait, beyond it 429. */
  maxWaiting: number;
  session: SessionSettings;
  worker: WorkerOptions;
  /** Fastify's request log (pino, JSON lines) on stderr. */
  log?: boolean;
  /**
   * Compress in a worker thread (default): an ONNX Runtime step computes on the thread that runs it, so in the
   * server's own thread every step would hold up the HTTP requests. false: in this thread (simpler to debug).
   */
  thread?: boolean;
  /**
   * Start on a store that holds memories or jobs of other models. Their memories are then listed and described but
   * never decoded here (409 naming both models), and their queued jobs wait for a server with their model.
   */
  allowOtherModels?: boolean;
}

export { SERVE_DEFAULTS } from './defaults.ts';

/** An error with its HTTP status and a stable code. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface Server {
  app: FastifyInstance;
  db: ServeDb;
  worker: QueueWorker;
  /** Jobs found running at start-up (interrupted by a crash) and queued again. */
  requeued: number[];
  /** Every route registered (method, Fastify URL): what GET /openapi.json must list. */
  routes: { method: string; url: string }[];
  /** Stops the worker (its running jobs go back to the queue), the HTTP server and the database. */
  close(): Promise<void>;
}

/** Longest session id; Fastify's own path-parameter limit (maxParamLength) is set above every schema's. */
export const MAX_SID = 128;
const SID = `^[A-Za-z0-9._:-]{1,${MAX_SID}}$`;
/** Fastify answers 414 in its own shape above this; every parameter's schema limit is below it. */
const MAX_PARAM_LENGTH = 1024;
const memoryIdParam = {
  type: 'object',
  required: ['id'],
  properties: {
    id: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: `a memory id, mem-id-<n> (pattern ${MEMORY_ID_PATTERN})`,
    },
  },
} as const;
const sidParam = {
  type: 'object',
  required: ['sid'],
  properties: { sid: { type: 'string', pattern: SID, description: 'a session id of your choosing' } },
} as const;
/** Most memories one GET /v1/memories page returns. */
export const MAX_LIST_LIMIT = 1000;

/** Tokens of a text without the BOS the tokenizer adds; and whether decode(encode(text)) gives it back. */
function tokenize(model: OpenModel, text: string): { ids: number[]; tokens: number; roundTrip: string | null } {
  const tok = model.tokenizer!;
  const ids = tok.encode(text);
  const tokens = tok.bosId !== null && ids[0] === tok.bosId ? ids.length - 1 : ids.length;
  const back = tok.decode(ids);
  if (back === text) return { ids, tokens, roundTrip: null };
  let i = 0;
  while (i < back.length && i < text.length && back[i] === text[i]) i++;
  const show = (s: string) => JSON.stringify(s.slice(i, i + 20));
  return {
    ids,
    tokens,
    roundTrip:
      `the ${model.name} tokenizer does not reproduce this text exactly: from character ${i}, ${show(text)} comes back as ${show(back)}; ` +
      'only texts the tokenizer round-trips can be compressed losslessly (remove or replace those characters)',
  };
}

export async function createServer(o: ServeOptions): Promise<Server> {
  const { model } = o;
  if (!model.tokenizer) throw new Error(`model ${model.name} was opened without its tokenizer`);
  const tok = model.tokenizer;
  const d = model.model.embedDim;
  const maxPositions = model.model.maxPositions;
  const identity = modelIdentity(model);
  const { db, lock, heartbeat } = openStore(o, identity);
  // A session's memory (its merges included) is one text: no longer than any other memory's.
  const session: SessionSettings = {
    ...o.session,
    maxChunkTokens: Math.min(o.session.maxChunkTokens, o.maxTextTokens),
  };
  const requeued = db.requeueInterrupted();
  const worker: QueueWorker =
    o.thread === false
      ? new CompressWorker(db, model, o.worker)
      : new ThreadWorker(db, { modelDir: model.dir, backend: model.compiled.runtime.name, store: db.path }, o.worker);
  const limiter = new Limiter(1, o.maxWaiting);
  const fileCache = new Map<number, MemoryFile>();
  const started = Date.now();
  /** The last write check of the store (health), at most one a second. */
  let probe = { at: 0, error: null as string | null };
  const storeError = (): string | null => {
    if (Date.now() - probe.at > 1000) {
      try {
        db.probeWritable();
        probe = { at: Date.now(), error: null };
      } catch (e) {
        probe = { at: Date.now(), error: `the store ${db.path} does not take writes: ${(e as Error).message}` };
      }
    }
    return probe.error ?? worker.storeError;
  };

  const app = Fastify({
    logger: o.log ? { level: 'info', stream: process.stderr } : false,
    bodyLimit: o.bodyLimit,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    forceCloseConnections: true,
    return503OnClosing: true,
    requestTimeout: 120_000,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true, useDefaults: true } },
  });

  const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}): never => {
    throw new HttpError(status, code, message, headers);
  };

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number; validation?: unknown }, req, reply) => {
    let status = 500;
    let code = 'internal';
    let message = err.message;
    let headers: Record<string, string> = {};
    if (err instanceof HttpError || err instanceof PromptError) {
      ({ status, code } = err);
      if (err instanceof HttpError) headers = err.headers;
    } else if (isStoreWriteError(err)) {
      status = 503;
      code = 'store_unavailable';
      message =
        `the store ${db.path} cannot be written now (${err.message}); nothing was changed: ` +
        'retry after the Retry-After seconds, once the store is writable again (GET /v1/health says degraded until then)';
      headers = { 'Retry-After': '5' };
    } else if (Array.isArray(err.validation)) {
      status = 400;
      code = 'invalid_request';
      const where = (err as { validationContext?: string }).validationContext ?? 'body';
      const problems = (
        err.validation as { instancePath: string; keyword: string; message?: string; params: Record<string, unknown> }[]
      ).map((v) => {
        const at = `${where}${v.instancePath.replace(/\//g, '.')}`;
        if (v.keyword === 'additionalProperties')
          return `${at}: unknown field "${String(v.params.additionalProperty)}"`;
        if (v.keyword === 'required') return `${at}: missing field "${String(v.params.missingProperty)}"`;
        return `${at} ${v.message ?? 'is invalid'}`;
      });
      message = `invalid request: ${problems.join('; ')}`;
    } else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      status = 400;
      code = 'malformed_json';
      message = 'the body is not valid JSON (Content-Type says application/json); send one JSON object';
    } else if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      status = 400;
      code = 'empty_body';
      message = 'the body is empty; send a JSON object';
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      code = 'body_too_large';
      message = `the body is larger than this server's limit of ${o.bodyLimit} bytes (--body-limit); send a shorter text or split it`;
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      status = 415;
      code = 'unsupported_media_type';
      message = `unsupported Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')}; send Content-Type: application/json`;
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode;
      code = (err.code ?? 'bad_request').toLowerCase();
    } else {
      req.log.error(err);
      process.stderr.write(`serve: ${req.method} ${req.url}: ${err.stack ?? err.message}\n`);
      message = `internal error: ${err.message}`;
    }
    void reply.code(status).headers(headers).send({ error: { code, message } });
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({
      error: {
        code: 'not_found',
        message: `no route ${req.method} ${req.url.split('?')[0]}; the routes are listed in docs/serve.md`,
      },
    });
  });

  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push({ method: m, url: r.url });
  });
  // text/plain is not JSON: refused with 415 like every other type (Fastify parses it by default).
  app.removeContentTypeParser('text/plain');

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'cramming memory service',
        version: API_VERSION,
        description:
          'Texts compressed into trained input vectors of a frozen LM; [mem-id-N] placeholders put them into prompts. ' +
          'Every error is {error: {code, message}}. See docs/serve.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(o.token ? { security: [{ bearer: [] }] } : {}),
    },
  });

  if (o.token) {
    const want = createHash('sha256').update(o.token).digest();
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      if (req.url === '/v1/health' || req.url === '/openapi.json') return;
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      const got = createHash('sha256')
        .update(m ? m[1] : '')
        .digest();
      if (!m || !timingSafeEqual(got, want)) {
        void reply
          .code(401)
          .header('WWW-Authenticate', 'Bearer')
          .send({
            error: {
              code: 'unauthorized',
              message:
                'missing or wrong bearer token: send the header Authorization: Bearer <token> given to `serve --token`',
            },
          });
        return reply;
      }
    });
  }

  // ---- helpers ----

  /** 410 for a session memory a merge replaced (naming the one that holds its text now), else 404. */
  const noMemory = (n: number, message: string): never => {
    const by = db.supersededBy(n);
    if (by) {
      fail(
        410,
        'memory_superseded',
        `memory ${memoryId(n)} was merged into ${memoryId(by.by)}, which holds its text followed by newer messages ` +
          `of session "${by.sid}" (a session keeps one memory); use [${memoryId(by.by)}] ` +
          `or GET /v1/sessions/${by.sid}/context`,
      );
    }
    return fail(404, 'unknown_memory', message);
  };

  const rowFor = (id: string): MemoryRow => {
    const n = parseMemoryId(id);
    if (n === null)
      fail(400, 'bad_id', `"${id}" is not a memory id (expected mem-id-<n>, as POST /v1/memories returns)`);
    const row = db.get(n!);
    if (!row) noMemory(n!, `no memory ${id}`);
    return row!;
  };

  const fileOf = (row: MemoryRow): MemoryFile => {
    // The store's entry may have been removed by another process (`cram store rm`): the cache never outlives it.
    if (!db.hasEntry(row.store_n!)) {
      fileCache.delete(row.store_n!);
      fail(
        410,
        'memory_gone',
        `the .mem data of ${memoryId(row.n)} (store entry mem-${row.store_n}) is no longer in the store ` +
          `(removed with \`cram store rm\`?); DELETE /v1/memories/${memoryId(row.n)} and compress the text again`,
      );
    }
    const cached = fileCache.get(row.store_n!);
    if (cached) return cached;
    const bytes = db.memoryBytes(row.store_n!);
    if (!bytes)
      fail(
        410,
        'memory_gone',
        `the .mem data of ${memoryId(row.n)} is no longer in the store (removed with \`cram store rm\`?)`,
      );
    const mf = parseMemoryFile(bytes!, memoryId(row.n));
    fileCache.set(row.store_n!, mf);
    if (fileCache.size > 64) fileCache.delete(fileCache.keys().next().value!);
    return mf;
  };

  /** Why a memory stored in segments was not made as one sequence (the server's fallback), or null. */
  const oneSequenceError = (row: MemoryRow | undefined): string | null => {
    try {
      const e = row?.stats ? (JSON.parse(row.stats) as { one_sequence_error?: unknown }).one_sequence_error : null;
      return typeof e === 'string' ? e : null;
    } catch {
      return null;
    }
  };

  const otherModel = (id: string, made: ModelIdentity): never =>
    fail(
      409,
      'model_mismatch',
      `memory ${id} was made by model ${describeModel(made)}; this server runs ${describeModel(identity)}, ` +
        `whose vectors mean something else: use a server started with --model ${made.name} on this store`,
    );

  const needDone = (row: MemoryRow): MemoryFile => {
    const id = memoryId(row.n);
    const made = rowModel(row);
    if (made && !sameModel(made, identity)) otherModel(id, made);
    if (row.status === 'failed')
      fail(409, 'memory_failed', `memory ${id} failed to compress (${row.error}); it has no vectors`);
    if (row.status !== 'done')
      fail(
        409,
        'memory_not_ready',
        `memory ${id} is ${row.status}, not done yet; poll GET /v1/memories/${id} until its status is done`,
      );
    const mf = fileOf(row);
    // The .mem file itself must agree (a store entry replaced by hand, a row without a model).
    try {
      checkModel(mf, model);
    } catch {
      otherModel(id, { name: mf.model, weights_sha256: mf.modelSha256, tokenizer_sha256: mf.tokenizerSha256 });
    }
    return mf;
  };

  const describe = (row: MemoryRow) => {
    const id = memoryId(row.n);
    const out: Record<string, unknown> = {
      id,
      placeholder: `[${id}]`,
      status: row.status,
      tags: JSON.parse(row.tags),
      tokens: row.tokens,
      text_chars: row.text_chars,
      text_sha256: row.text_sha256,
      created: row.created,
      started: row.started,
      finished: row.finished,
      runs: row.runs,
      model: rowModel(row),
    };
    const made = rowModel(row);
    if (made && !sameModel(made, identity)) {
      out.other_model =
        `made by ${describeModel(made)}, not by this server's model: ` +
        'listed here, decoded only by a server with that model';
    }
    if (row.session_id !== null) out.session = row.session_id;
    if (row.replaces_n != null) out.replaces = memoryId(row.replaces_n);
    if (row.status === 'queued') {
      out.queue_position =
        (
          db.db.prepare("SELECT COUNT(*) AS c FROM serve_memories WHERE status = 'queued' AND n < ?").get(row.n) as {
            c: number;
          }
        ).c + 1;
    }
    if (row.status === 'running') out.progress = worker.progress.get(row.n) ?? null;
    if (row.status === 'done') {
      out.stats = JSON.parse(row.stats!);
      out.store_id = `mem-${row.store_n}`;
    }
    if (row.status === 'failed') out.error = row.error;
    if ((row.status === 'queued' || row.status === 'running') && worker.storeError) out.store_error = worker.storeError;
    return out;
  };

  const tooBusy = (what: string) =>
    fail(429, 'too_busy', `${what}; retry after the Retry-After seconds`, {
      'Retry-After': String(worker.estimatedWaitSeconds(db.pendingCount())),
    });
  const generateBusy = () =>
    fail(
      429,
      'too_busy',
      `${o.maxWaiting} generate/decompress requests are already waiting; retry after the Retry-After seconds`,
      { 'Retry-After': String(limiter.retryAfterSeconds()) },
    );

  /** Checks a text for a memory or a message: non-empty, round-trips, not too long. Returns its token count. */
  const checkText = (text: string, what: string): number => {
    if (text.length === 0) fail(400, 'empty_text', `${what} is empty; send the text to compress`);
    const t = tokenize(model, text);
    if (t.roundTrip) fail(422, 'text_not_round_trip', t.roundTrip);
    if (t.tokens > o.maxTextTokens)
      fail(
        413,
        'text_too_long',
        `${what} has ${t.tokens} tokens; this server takes at most ${o.maxTextTokens} per text (--max-text-tokens); split it`,
      );
    return t.tokens;
  };

  const generate = async (
    pieces: PromptPiece[],
    maxTokens: number,
    memories: Map<number, MemoryFile>,
    where?: string,
  ) => {
    const segmentedBecause = new Map<number, string>();
    for (const [n, mf] of memories) {
      if (mf.segments.length < 2) continue;
      const why = oneSequenceError(db.get(n));
      if (why !== null) segmentedBecause.set(n, why);
    }
    checkLayout(pieces, memories, where, segmentedBecause);
    const parts = promptParts(pieces, memories, tok);
    const size = partSizes(parts, d);
    if (size.vectors + size.tokens === 0)
      fail(400, 'empty_prompt', 'the prompt is empty; send some text or a [mem-id-N] placeholder');
    if (size.vectors + size.tokens >= maxPositions) {
      fail(
        400,
        'prompt_too_long',
        `the input is ${size.vectors} vectors + ${size.tokens} tokens = ${size.vectors + size.tokens} positions; ${model.name} takes at most ${maxPositions - 1} before the first generated token`,
      );
    }
    const r = await limiter.run(() => greedyGenerate(model.compiled, { parts, maxNew: maxTokens, eosId: tok.eosId }));
    if (!r) generateBusy();
    const ids = r!.value;
    const finish =
      tok.eosId !== null && ids[ids.length - 1] === tok.eosId
        ? 'eos'
        : ids.length >= maxTokens
          ? 'length'
          : 'context_full';
    return {
      text: tok.decode(ids),
      tokens: ids.length,
      ids,
      finish_reason: finish,
      input: { vectors: size.vectors, tokens: size.tokens, memories: [...memories.keys()].map(memoryId) },
    };
  };

  // ---- routes ----

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const healthSummary = 'Liveness, queue counts, the model; status degraded while the store takes no writes';
  app.get('/v1/health', { schema: { summary: healthSummary } }, async () => {
    const counts = db.counts();
    const problem = storeError();
    return {
      status: problem ? 'degraded' : 'ok',
      ...(problem ? { store_error: problem } : {}),
      model: model.name,
      model_identity: identity,
      backend: model.compiled.runtime.name,
      uptime_s: Math.round((Date.now() - started) / 1000),
      queue: {
        queued: counts.queued,
        running: counts.running,
        done: counts.done,
        failed: counts.failed,
        generate_waiting: limiter.queued,
      },
      rss_bytes: process.memoryUsage().rss,
      batches: worker.totals.batches,
      memory: {
        heap_used_bytes: getHeapStatistics().used_heap_size,
        worker_heap_used_bytes: worker.heapUsed ?? null,
        external_bytes: process.memoryUsage().external,
      },
    };
  });

  app.post(
    '/v1/memories',
    {
      schema: {
        summary: 'Queue a text for compression (202; poll GET /v1/memories/{id})',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['text'],
          properties: {
            text: { type: 'string' },
            tags: { type: 'array', maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 128 } },
          },
        },
      },
    },
    async (req, reply) => {
      const { text, tags = [] } = req.body as { text: string; tags?: string[] };
      const tokens = checkText(text, 'text');
      const n = db.enqueue(
        { model: identity, text, textSha256: sha256(text), tokens, tags: [...new Set(tags)] },
        o.maxQueue,
      );
      if (n === null) tooBusy(`${o.maxQueue} compression jobs are already queued or running (--max-queue)`);
      worker.wake();
      const id = memoryId(n!);
      return reply
        .code(202)
        .header('Location', `/v1/memories/${id}`)
        .send({ id, status: 'queued', placeholder: `[${id}]`, tokens, model: identity });
    },
  );

  app.get(
    '/v1/memories',
    {
      schema: {
        summary: 'List memories (a page: total, limit, offset, next_offset)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['queued', 'running', 'done', 'failed'] },
            tag: { type: 'string', minLength: 1 },
            limit: { type: 'string', pattern: '^[0-9]{1,9}$', description: `1–${MAX_LIST_LIMIT}, default 100` },
            offset: { type: 'string', pattern: '^[0-9]{1,9}$', description: 'memories to skip, default 0' },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { status?: JobStatus; tag?: string; limit?: string; offset?: string };
      const limit = Number(q.limit ?? 100);
      if (limit < 1 || limit > MAX_LIST_LIMIT) {
        fail(
          400,
          'invalid_request',
          `querystring.limit must be 1–${MAX_LIST_LIMIT}, got ${q.limit}; page on with offset`,
        );
      }
      const offset = Number(q.offset ?? 0);
      const { rows, total } = db.list({ status: q.status, tag: q.tag, limit, offset });
      const next = offset + rows.length < total ? offset + rows.length : null;
      return { memories: rows.map(describe), total, limit, offset, next_offset: next, counts: db.counts() };
    },
  );

  app.get(
    '/v1/memories/:id',
    { schema: { summary: 'A memory: status, progress, stats, model', params: memoryIdParam } },
    async (req) => describe(rowFor((req.params as { id: string }).id)),
  );

  const textSchema = { summary: 'The text regenerated from the vectors (SHA-256 checked)', params: memoryIdParam };
  app.get('/v1/memories/:id/text', { schema: textSchema }, async (req) => {
    const row = rowFor((req.params as { id: string }).id);
    const mf = needDone(row);
    const r = await limiter.run(() => decompress(mf, { model }));
    if (!r) generateBusy();
    return { id: memoryId(row.n), text: r!.value, sha256: mf.textSha256, verified: true };
  });

  app.delete(
    '/v1/memories/:id',
    { schema: { summary: 'Delete a memory and its store entry', params: memoryIdParam } },
    async (req, reply) => {
      const row = rowFor((req.params as { id: string }).id);
      const r = db.deleteMemory(row.n);
      if (r === 'session')
        fail(
          409,
          'memory_in_session',
          `memory ${memoryId(row.n)} holds part of session "${row.session_id}"; delete the session (DELETE /v1/sessions/${row.session_id})`,
        );
      if (row.store_n !== null) fileCache.delete(row.store_n);
      return reply.code(204).send();
    },
  );

  const maxTokensSchema = { type: 'integer', minimum: 1, maximum: o.maxNewTokens, default: 32 };

  app.post(
    '/v1/generate',
    {
      schema: {
        summary: "Greedy continuation of a prompt; one [mem-id-N] opening it is replaced by that memory's vectors",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['prompt'],
          properties: { prompt: { type: 'string' }, max_tokens: maxTokensSchema },
        },
      },
    },
    async (req) => {
      const { prompt, max_tokens: maxTokens } = req.body as { prompt: string; max_tokens: number };
      if (prompt.length === 0) fail(400, 'empty_prompt', 'prompt is empty; send some text or a [mem-id-N] placeholder');
      const pieces = parsePrompt(prompt);
      const memories = new Map<number, MemoryFile>();
      for (const p of pieces) {
        if (!('memory' in p) || memories.has(p.memory)) continue;
        const row = db.get(p.memory);
        if (!row) noMemory(p.memory, `the prompt names ${p.id}, but there is no memory ${p.id}`);
        memories.set(p.memory, needDone(row!));
      }
      return { ...(await generate(pieces, maxTokens, memories)), model: identity };
    },
  );

  // ---- sessions ----

  const sessionPieces = (parts: PartRow[]): { pieces: PromptPiece[]; memories: Map<number, MemoryFile> } => {
    const pieces: PromptPiece[] = [];
    const memories = new Map<number, MemoryFile>();
    for (const p of parts) {
      if (p.kind === 'memory') {
        const row = db.get(p.memory_n!);
        if (!row) fail(500, 'session_broken', `session memory ${memoryId(p.memory_n!)} is missing`);
        memories.set(p.memory_n!, needDone(row!));
        pieces.push({ memory: p.memory_n!, id: memoryId(p.memory_n!) });
      } else {
        const last = pieces[pieces.length - 1];
        if (last && 'text' in last) last.text += p.text!;
        else pieces.push({ text: p.text! });
      }
    }
    return { pieces, memories };
  };

  app.post(
    '/v1/sessions/:sid/messages',
    {
      schema: {
        summary: 'Append a message; past the threshold the oldest messages are compressed into a memory',
        params: sidParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['text'],
          properties: { text: { type: 'string' } },
        },
      },
    },
    async (req, reply) => {
      const { sid } = req.params as { sid: string };
      const { text } = req.body as { text: string };
      if (text.length === 0) fail(400, 'empty_text', 'text is empty; send the message');
      // A message is kept as a line: its text and a newline.
      const stored = `${text}\n`;
      const tokens = checkText(stored, 'the message');
      const r = db.appendMessage(
        sid,
        stored,
        tokens,
        session,
        (parts) => {
          const chunk = parts.map((p) => p.text!).join('');
          return {
            model: identity,
            text: chunk,
            textSha256: sha256(chunk),
            tokens: tokenize(model, chunk).tokens,
            tags: [],
          };
        },
        o.maxQueue,
      );
      if (r.job !== null) worker.wake();
      return reply.code(201).send({
        session: sid,
        seq: r.seq,
        tokens,
        compressing: r.job !== null ? memoryId(r.job) : null,
        compression_skipped: r.skipped,
      });
    },
  );

  app.get(
    '/v1/sessions/:sid/context',
    { schema: { summary: "A session's context: its memories and recent text", params: sidParam } },
    async (req) => {
      const { sid } = req.params as { sid: string };
      if (!db.sessionExists(sid))
        fail(404, 'unknown_session', `no session "${sid}"; POST /v1/sessions/${sid}/messages starts it`);
      const parts = db.sessionParts(sid);
      let vectors = 0;
      let textTokens = 0;
      const layout = parts.map((p) => {
        if (p.kind === 'memory') {
          const row = db.get(p.memory_n!);
          const k = row?.stats ? (JSON.parse(row.stats) as { vectors: number }).vectors : 0;
          vectors += k;
          return { kind: 'memory', id: memoryId(p.memory_n!), tokens: p.tokens, vectors: k };
        }
        textTokens += p.tokens;
        return {
          kind: 'text',
          text: p.text,
          tokens: p.tokens,
          compressing: p.memory_n !== null ? memoryId(p.memory_n) : null,
          compression_failed: p.failed_n !== null ? memoryId(p.failed_n) : null,
        };
      });
      const firstText = parts.findIndex((p) => p.kind === 'text');
      return {
        session: sid,
        layout,
        memories: layout.filter((l) => l.kind === 'memory').map((l) => l.id),
        recent_text:
          firstText < 0
            ? ''
            : parts
                .slice(firstText)
                .filter((p) => p.kind === 'text')
                .map((p) => p.text)
                .join(''),
        text_tokens: textTokens,
        vectors,
        positions: vectors + textTokens,
        compressed_tokens: parts.filter((p) => p.kind === 'memory').reduce((a, p) => a + p.tokens, 0),
        memory_full: db.memoryFull(sid, session),
      };
    },
  );

  app.post(
    '/v1/sessions/:sid/generate',
    {
      schema: {
        summary: "Continue from a session's context (its memory, then its recent text, then the prompt)",
        params: sidParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { prompt: { type: 'string' }, max_tokens: maxTokensSchema },
        },
      },
    },
    async (req) => {
      const { sid } = req.params as { sid: string };
      const { prompt = '', max_tokens: maxTokens } = (req.body ?? {}) as { prompt?: string; max_tokens: number };
      if (!db.sessionExists(sid))
        fail(404, 'unknown_session', `no session "${sid}"; POST /v1/sessions/${sid}/messages starts it`);
      const { pieces, memories } = sessionPieces(db.sessionParts(sid));
      const last = pieces[pieces.length - 1];
      if (last && 'text' in last) last.text += prompt;
      else pieces.push({ text: prompt });
      return {
        session: sid,
        ...(await generate(pieces, maxTokens, memories, `session "${sid}"'s context`)),
        model: identity,
      };
    },
  );

  app.delete(
    '/v1/sessions/:sid',
    { schema: { summary: 'Delete a session, its memories and its pending jobs', params: sidParam } },
    async (req, reply) => {
      const { sid } = req.params as { sid: string };
      if (!db.deleteSession(sid)) fail(404, 'unknown_session', `no session "${sid}"`);
      fileCache.clear();
      return reply.code(204).send();
    },
  );

  worker.start();
  let closed = false;
  return {
    app,
    db,
    worker,
    requeued,
    routes,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await worker.stop();
      clearInterval(heartbeat);
      db.close();
      lock.release();
    },
  };
}

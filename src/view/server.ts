/**
 * `cram view`'s web server (Fastify, as the memory service): the page and its ES modules (src/view/client/), vega and
 * vega-lite from node_modules (no CDN, no build step), JSON endpoints over data.ts, server-sent events when a run's
 * files change, and files of the results folder (vector downloads) with every path checked by safety.ts.
 * Read-only, except POST /api/compare, which writes a comparison folder under the results folder (as `cram compare`).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ResultsFolder, type Filter } from './data.ts';
import { compareRuns } from './harness.ts';
import { checkRunName, loopbackAddress, resolveInside, UnsafePathError } from './safety.ts';

export interface ViewOptions {
  /** Required on every request when set (header `Authorization: Bearer <t>`, or `?token=` once, then a cookie). */
  token?: string;
  /** Host names the Host header may carry besides loopback ones (the bind address). */
  allowedHosts?: string[];
  /** How often the event stream looks at the runs' files, ms (default 1000). */
  pollMs?: number;
}

const CLIENT_DIR = fileURLToPath(new URL('./client/', import.meta.url));
const CLIENT_FILES: Record<string, string> = {
  'app.js': 'text/javascript',
  'style.css': 'text/css',
  'index.html': 'text/html',
};

/** vega and vega-lite's browser bundles, from node_modules. */
function libraryFile(name: 'vega' | 'vega-lite'): string {
  const entry = fileURLToPath(import.meta.resolve(name));
  const file = join(dirname(entry), name === 'vega' ? 'vega.min.js' : 'vega-lite.min.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: reinstall with npm ci`);
  return file;
}

const list = (v: unknown): string[] => (typeof v === 'string' && v !== '' ? v.split(',').filter(Boolean) : []);

function filterOf(q: Record<string, unknown>): Filter {
  return { model: list(q.model), source: list(q.source), n_mem: list(q.n_mem).map(Number).filter(Number.isFinite) };
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(req: FastifyRequest): string | null {
  const m = /(?:^|;\s*)cram_view=([^;]*)/.exec(req.headers.cookie ?? '');
  return m ? decodeURIComponent(m[1]) : null;
}

export function buildViewApp(root: string, opts: ViewOptions = {}): FastifyInstance {
  const results = new ResultsFolder(root);
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true });
  const allowedHosts = new Set(['localhost', ...(opts.allowedHosts ?? [])]);

  app.addHook('onRequest', async (req, reply) => {
    // A page on another site must not read the results through a name that resolves to loopback (DNS rebinding).
    const host = (req.headers.host ?? '')
      .replace(/:\d+$/, '')
      .replace(/^\[(.*)\]$/, '$1')
      .toLowerCase();
    if (!opts.token && !allowedHosts.has(host) && !loopbackAddress(host)) {
      return reply
        .code(403)
        .send({ error: `Host ${host || '(none)'} refused: open the viewer at http://127.0.0.1 or localhost` });
    }
    // The one write (POST /api/compare) only from the viewer's own page: another site's page is refused.
    const origin = req.headers.origin;
    if (req.method !== 'GET' && req.method !== 'HEAD' && origin !== undefined) {
      let same = false;
      try {
        same = new URL(origin).host === req.headers.host;
      } catch {
        /* a malformed origin is not ours */
      }
      if (!same) {
        return reply.code(403).send({ error: `requests from ${origin} are refused: use the viewer's own page` });
      }
    }
    if (!opts.token) return;
    const q = req.query as Record<string, unknown>;
    const auth = req.headers.authorization?.replace(/^Bearer\s+/i, '');
    const given = auth ?? (typeof q.token === 'string' ? q.token : null) ?? cookieToken(req);
    if (given === null || !sameToken(given, opts.token)) {
      return reply
        .code(401)
        .send({ error: 'this viewer needs its token: open the URL printed by cram view (…/?token=…)' });
    }
    if (typeof q.token === 'string') {
      reply.header('set-cookie', `cram_view=${encodeURIComponent(opts.token)}; HttpOnly; SameSite=Strict; Path=/`);
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status =
      err instanceof UnsafePathError ? err.status : err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    reply.code(status).send({ error: err.message.split('\n')[0] });
  });

  const sendFile = (reply: FastifyReply, file: string, type: string, download?: string) => {
    reply
      .header('content-type', type)
      .header('content-length', statSync(file).size)
      .header('x-content-type-options', 'nosniff');
    if (download) reply.header('content-disposition', `attachment; filename="${download.replace(/[^\w.-]/g, '_')}"`);
    return reply.send(createReadStream(file));
  };

  app.get('/', (_req, reply) => sendFile(reply, join(CLIENT_DIR, 'index.html'), 'text/html; charset=utf-8'));
  app.get<{ Params: { file: string } }>('/app/:file', (req, reply) => {
    const type = CLIENT_FILES[req.params.file];
    if (!type) throw new UnsafePathError('not found', 404);
    return sendFile(reply, join(CLIENT_DIR, req.params.file), `${type}; charset=utf-8`);
  });
  app.get<{ Params: { name: string } }>('/lib/:name', (req, reply) => {
    const name = { 'vega.js': 'vega', 'vega-lite.js': 'vega-lite' }[req.params.name] as
      'vega' | 'vega-lite' | undefined;
    if (!name) throw new UnsafePathError('not found', 404);
    reply.header('cache-control', 'max-age=3600');
    return sendFile(reply, libraryFile(name), 'text/javascript; charset=utf-8');
  });

  app.get('/api/runs', async () => ({ root: basename(root), runs: results.runs() }));
  app.get<{ Params: { run: string }; Querystring: Record<string, unknown> }>('/api/runs/:run', async (req) =>
    results.run(req.params.run, filterOf(req.query)),
  );
  app.get<{ Params: { run: string }; Querystring: Record<string, unknown> }>('/api/runs/:run/find', async (req) => {
    const fields = Object.fromEntries(Object.entries(req.query).filter(([, v]) => typeof v === 'string'));
    const key = results.find(req.params.run, fields);
    if (key === null) throw new UnsafePathError('no text of this run matches the point', 404);
    return { key };
  });
  app.get<{ Params: { run: string }; Querystring: { key?: string } }>('/api/runs/:run/text', async (req) => {
    if (typeof req.query.key !== 'string') throw new UnsafePathError('give ?key=<record key>', 400);
    return results.text(req.params.run, req.query.key);
  });
  app.get<{ Querystring: { runs?: string } }>('/api/compare', async (req) => results.compare(list(req.query.runs)));
  app.post<{ Body: { runs?: unknown; name?: unknown } }>('/api/compare', async (req, reply) => {
    const { runs, name } = req.body ?? {};
    if (!Array.isArray(runs) || runs.length < 1 || !runs.every((r) => typeof r === 'string')) {
      throw new UnsafePathError('runs: give a list of run names', 400);
    }
    if (typeof name !== 'string') throw new UnsafePathError('name: give the folder name to write', 400);
    checkRunName(name);
    const out = join(root, name);
    if (existsSync(out))
      throw new UnsafePathError(`${name} already exists in the results folder; pick another name`, 409);
    const dirs = (runs as string[]).map((r) => results.runDir(r));
    const written = await compareRuns(dirs, out);
    return reply.code(201).send({ folder: name, report: `${name}/report.html`, files: written.files.length });
  });

  app.get<{ Params: { '*': string } }>('/files/*', (req, reply) => {
    const file = resolveInside(root, req.params['*'], { file: true });
    const name = basename(file);
    const types: Record<string, string> = {
      '.svg': 'image/svg+xml',
      '.png': 'image/png',
      '.csv': 'text/csv; charset=utf-8',
      '.md': 'text/plain; charset=utf-8',
      '.jsonl': 'text/plain; charset=utf-8',
      '.json': 'application/json',
      '.yaml': 'text/plain; charset=utf-8',
      '.html': 'text/plain; charset=utf-8',
    };
    const ext = /\.[^.]+$/.exec(name)?.[0] ?? '';
    const type = types[ext];
    return sendFile(reply, file, type ?? 'application/octet-stream', type ? undefined : name);
  });

  app.get('/api/events', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    let stamps = new Map<string, string>();
    let beats = 0;
    const look = () => {
      try {
        const now = new Map(results.runNames().map((n) => [n, results.stamp(n)]));
        const changed = [...now].filter(([n, s]) => stamps.get(n) !== s).map(([n]) => n);
        const gone = [...stamps.keys()].filter((n) => !now.has(n));
        const first = stamps.size === 0 && beats === 0;
        stamps = now;
        if (first || changed.length || gone.length) {
          const data = { runs: results.runs(), changed: first ? [] : [...changed, ...gone] };
          res.write(`event: runs\ndata: ${JSON.stringify(data)}\n\n`);
        } else if (++beats % 15 === 0) {
          res.write(': keep-alive\n\n');
        }
      } catch (e) {
        res.write(`event: problem\ndata: ${JSON.stringify({ error: (e as Error).message })}\n\n`);
      }
    };
    look();
    const timer = setInterval(look, opts.pollMs ?? 1000);
    req.raw.on('close', () => clearInterval(timer));
  });

  return app;
}

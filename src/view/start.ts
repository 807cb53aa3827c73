/** Starts `cram view`'s server: checks the bind (safety.ts), listens, returns its URL. */
import { buildViewApp } from './server.ts';
import { checkBind } from './safety.ts';

export interface Viewer {
  url: string;
  /** The results folder served. */
  root: string;
  port: number;
  close(): Promise<void>;
}

export async function startViewer(
  root: string,
  opts: { port?: number; host?: string; token?: string; pollMs?: number } = {},
): Promise<Viewer> {
  const host = opts.host ?? '127.0.0.1';
  const bind = await checkBind(host, opts.token);
  const app = buildViewApp(root, { token: opts.token, allowedHosts: [host.toLowerCase()], pollMs: opts.pollMs });
  await app.listen({ port: opts.port ?? 8788, host: bind.address });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 8788);
  const shown = bind.address.includes(':') ? `[${bind.address}]` : bind.address;
  const url = `http://${shown}:${port}/${opts.token ? `?token=${encodeURIComponent(opts.token)}` : ''}`;
  return { url, root, port, close: () => app.close() };
}

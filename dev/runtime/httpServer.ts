import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Invoke, RegisteredFunction } from './registry';
import type { LineLog, TypedData } from './worker';

/**
 * The host's HTTP front door: `/<routePrefix>/<route>` for HTTP-triggered functions (everything anonymous), the
 * Durable extension's HTTP API, and the admin "run now" route. Requests reach the function through the library's
 * HTTP-streaming proxy only (library `src/http/httpProxy.ts`, host `DefaultHttpProxyService.cs`).
 */

export interface CompiledRoute {
  template: string;
  /** Per segment: literal 1, parameter 4, catch-all 5 (ASP.NET route precedence: lower wins, segment by segment). */
  precedence: string;
  match(path: string): { params: Record<string, string> } | undefined;
}

/** Literals (case-insensitive), `{name}` and a trailing `{*name}` (which also matches nothing); the rest is refused. */
export function compileRoute(template: string): CompiledRoute {
  const segments = template.split('/').filter(Boolean);
  const names: string[] = [];
  let [regex, precedence] = ['^', ''];
  segments.forEach((segment, i) => {
    const p = /^\{(\*?)([A-Za-z_]\w*)\}$/.exec(segment);
    if (p?.[1] && i !== segments.length - 1) throw new Error(`route "${template}": a catch-all must be last`);
    if (!p && /[{}]/.test(segment))
      throw new Error(
        `route "${template}": segment "${segment}" is not supported by the local runtime (only literals, {name} and {*name})`,
      );
    if (p) names.push(p[2]!);
    regex += !p ? `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}` : p[1] ? '(?:/(.*))?' : '/([^/]+)';
    precedence += !p ? '1' : p[1] ? '5' : '4';
  });
  const re = new RegExp(`${regex}/?$`, 'i');
  return {
    template,
    precedence,
    match(path) {
      const m = re.exec(path === '/' ? '' : path);
      if (!m) return undefined;
      const params: Record<string, string> = {};
      names.forEach((n, i) => {
        const raw = m[i + 1];
        if (!raw) return;
        try {
          params[n] = decodeURIComponent(raw);
        } catch {
          params[n] = raw;
        }
      });
      return { params };
    },
  };
}

/** Segment by segment, lower first; a route that ends first (a prefix of the other) wins. */
export const comparePrecedence = (a: CompiledRoute, b: CompiledRoute): number =>
  a.precedence < b.precedence ? -1 : a.precedence > b.precedence ? 1 : 0;

export interface HttpHostOptions {
  port: number;
  routePrefix: string;
  functions: RegisteredFunction[];
  /** The library's HTTP-streaming proxy (from the app's capabilities). */
  httpStreamUri: string | undefined;
  invoke: Invoke;
  log: LineLog;
  /** The Durable HTTP API; true when it answered the request. */
  durable: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  /** Extension webhooks (`/runtime/webhooks/...`, eventGrid.ts); true when answered. */
  webhooks?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  /** Runs a non-HTTP function now (admin API): 202, 404 unknown, 501 not runnable. */
  runNow: (name: string) => number;
  bodyLimit: number;
  responseLimitMs: number;
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const HOP_BY_HOP = /^(connection|keep-alive|transfer-encoding|upgrade|proxy-connection|te|trailer)$/;

/**
 * A body over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: Kestrel's "Request body too large" surfaces as "Exception binding
 * parameter 'req'", which the host's ExceptionMiddleware turns into a bare 500; the function never runs.
 */
function rejectTooLarge(req: IncomingMessage, res: ServerResponse, o: HttpHostOptions): void {
  o.log(
    `http ${req.method} ${req.url} -> 500: request body larger than ${o.bodyLimit} bytes (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)`,
  );
  req.resume(); // drained, so the client can finish sending and read the answer
  if (!res.headersSent) res.writeHead(500, { 'Content-Length': '0' }).end();
}

export async function startHttpHost(o: HttpHostOptions): Promise<{ url: string; stop: () => Promise<void> }> {
  const routes = o.functions
    .map((fn) => ({ fn, compiled: compileRoute(fn.http!.route), methods: fn.http!.methods }))
    .sort((a, b) => comparePrecedence(a.compiled, b.compiled));
  const prefix = o.routePrefix ? `/${o.routePrefix.replace(/^\/+|\/+$/g, '')}`.toLowerCase() : '';
  const sockets = new Set<Socket>();
  let url = '';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const u = new URL(req.url ?? '/', `http://${req.headers.host ?? url.slice(7)}`);
    if (await o.durable(req, res, u)) return;
    if (await o.webhooks?.(req, res, u)) return;
    const admin = /^\/admin\/functions\/([^/]+)$/.exec(u.pathname);
    if (admin && req.method === 'POST') return runNow(decodeURIComponent(admin[1]!), req, res);
    const lower = u.pathname.toLowerCase();
    const method = (req.method ?? 'GET').toUpperCase();
    const route =
      lower === prefix || lower.startsWith(`${prefix}/`)
        ? routes
            .filter((r) => !r.methods || r.methods.includes(method))
            .map((r) => ({ r, m: r.compiled.match(u.pathname.slice(prefix.length)) }))
            .find((x) => x.m)
        : undefined;
    if (!route) return void res.writeHead(404).end();
    await invoke(route.r.fn, route.m!.params, u, method, req, res);
  };

  /** `POST /admin/functions/<name>` `{"input": "..."}` (FunctionsController.Invoke): 202 while it runs; 400 no body. */
  const runNow = async (name: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // A timer ignores the input, but the request must carry it.
    const body = (await readBody(req)
      .then(JSON.parse)
      .catch(() => null)) as unknown;
    if (body === null || typeof body !== 'object') return void res.writeHead(400).end();
    const status = o.runNow(name);
    if (status === 202) o.log(`admin: ${name} invoked on request`);
    res.writeHead(status).end();
  };

  /** Forwards the request (body streamed) to the library's proxy with `x-ms-invocation-id`, pipes back its answer. */
  const invoke = async (
    fn: RegisteredFunction,
    params: Record<string, string>,
    u: URL,
    method: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> => {
    const started = Date.now();
    const done = (status: number): void =>
      o.log(`http ${method} ${u.pathname} -> ${fn.name} ${status} (${Date.now() - started} ms)`);
    if (Number(req.headers['content-length'] ?? 0) > o.bodyLimit) return rejectTooLarge(req, res, o);
    // Azure's front end drops a request whose response has not started 230 s after it was sent (Learn
    // functions-scale.md, "Timeout"); the invocation goes on. The status the client then sees (502) is a guess.
    let limit: NodeJS.Timeout | undefined;
    req.once('end', () => {
      limit = setTimeout(() => {
        if (res.headersSent) return;
        o.log(
          `http ${method} ${u.pathname} -> ${fn.name}: no response within ${o.responseLimitMs} ms, answering 502`,
        );
        res.writeHead(502, { Connection: 'close' }).end();
      }, o.responseLimitMs);
    });
    res.once('close', () => clearTimeout(limit));

    const invocationId = randomUUID();
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]),
    );
    const query = Object.fromEntries(u.searchParams);
    const triggerMetadata: Record<string, TypedData> = {
      Headers: { json: JSON.stringify(headers) },
      Query: { json: JSON.stringify(query) },
    };
    for (const [k, v] of Object.entries(params)) triggerMetadata[k] = { string: v };
    const proxy = new URL(o.httpStreamUri!);
    const forwarded = request({
      host: proxy.hostname,
      port: proxy.port,
      method: req.method,
      path: req.url,
      headers: {
        ...req.headers,
        'x-ms-invocation-id': invocationId,
        'x-forwarded-host': u.host,
        'x-forwarded-proto': 'http',
      },
    });
    let answered = false;
    const proxied = new Promise<void>((resolve) => {
      forwarded.on('response', (pres) => {
        answered = true;
        if (res.headersSent) return resolve(void pres.resume()); // the response or body limit answered already
        const out = Object.entries(pres.headers).filter(
          ([k, v]) => v !== undefined && k !== 'x-ms-invocation-id' && !HOP_BY_HOP.test(k),
        );
        res.writeHead(pres.statusCode ?? 200, Object.fromEntries(out) as Record<string, string>);
        pres.pipe(res);
        pres.on('end', resolve).on('error', resolve);
      });
      forwarded.on('error', () => resolve());
      res.once('close', () => resolve()); // the client went away, or the response limit answered
    });
    let size = 0;
    req.on('data', (c: Buffer) => {
      if ((size += c.length) <= o.bodyLimit) return;
      req.unpipe(forwarded);
      forwarded.destroy();
      rejectTooLarge(req, res, o);
    });
    req.pipe(forwarded);

    const answer = (status: number): void => {
      forwarded.destroy();
      if (!answered && !res.headersSent) res.writeHead(status).end();
      done(status);
    };
    let result: unknown;
    try {
      const http = { method, url: u.href, headers, query, params };
      result = (await o.invoke(fn, { http }, triggerMetadata, invocationId)).result;
    } catch (err) {
      o.log(`[${fn.name}] ERROR ${(err as Error).stack ?? String(err)}`);
      return answer(500);
    }
    if (!answered && result == null) return answer(204); // nothing returned: the library sends the proxy nothing
    await proxied;
    done(res.statusCode);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log(`ERROR http ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  server.on('connection', (s) => sockets.add(s.on('close', () => sockets.delete(s))));
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) =>
    server.once('error', reject).listen(o.port, '127.0.0.1', resolve),
  );
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => sockets.forEach((s) => s.destroy()), 2000).unref();
      }),
  };
}

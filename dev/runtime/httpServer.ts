import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import type { Invoke, RegisteredFunction } from './registry';
import type { LineLog, TypedData } from './worker';

/**
 * The host's HTTP front door: `/<routePrefix>/<route>` for HTTP-triggered functions (everything anonymous), the
 * Durable extension's HTTP API, and the admin "run now" route. Requests reach the function through the library's
 * HTTP-streaming proxy only (library `src/http/httpProxy.ts`, host `DefaultHttpProxyService.cs`).
 */

/** Literals (case-insensitive), `{name}` and a trailing `{*name}` (which also matches nothing); the rest is refused. */
export function compileRoute(template: string) {
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
    // ASP.NET route precedence: literal 1, parameter 4, catch-all 5; lower wins, segment by segment
    precedence += !p ? '1' : p[1] ? '5' : '4';
  });
  const re = new RegExp(`${regex}/?$`, 'i');
  return {
    template,
    precedence,
    match(path: string): { params: Record<string, string> } | undefined {
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

export type CompiledRoute = ReturnType<typeof compileRoute>;

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
  /** The Durable HTTP API and extension webhooks (`/runtime/webhooks/...`), in turn; true when one answered. */
  handlers: ((req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>)[];
  /** Runs a non-HTTP function now (admin API): 202, 404 unknown, 501 not runnable. */
  runNow: (name: string) => number;
  bodyLimit: number;
  responseLimitMs: number;
}

export const readBody = (req: IncomingMessage): Promise<string> => text(req);

const HOP_BY_HOP = /^(connection|keep-alive|transfer-encoding|upgrade|proxy-connection|te|trailer)$/;

/** Kestrel's "Request body too large" fails binding `req`: host `ExceptionMiddleware.cs` answers a bare 500. */
function rejectTooLarge(req: IncomingMessage, res: ServerResponse, o: HttpHostOptions): void {
  o.log(
    `http ${req.method} ${req.url} -> 500: request body larger than ${o.bodyLimit} bytes (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)`,
  );
  req.resume(); // drained, so the client can finish sending and read the answer
  if (!res.headersSent) res.writeHead(500, { 'Content-Length': '0' }).end();
}

export async function startHttpHost(o: HttpHostOptions): Promise<{ url: string; stop: () => Promise<void> }> {
  const routes = o.functions.sort((a, b) => comparePrecedence(a.http!.route, b.http!.route));
  const prefix = o.routePrefix ? `/${o.routePrefix.replace(/^\/+|\/+$/g, '')}`.toLowerCase() : '';
  let url = '';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const u = new URL(req.url ?? '/', `http://${req.headers.host ?? url.slice(7)}`);
    for (const handler of o.handlers) if (await handler(req, res, u)) return;
    const admin = /^\/admin\/functions\/([^/]+)$/.exec(u.pathname);
    if (admin && req.method === 'POST') {
      // FunctionsController.Invoke: 202 while it runs; the body `{"input": ...}` is required (a timer ignores it).
      const body = (await readBody(req)
        .then(JSON.parse)
        .catch(() => null)) as unknown;
      const valid = body !== null && typeof body === 'object';
      return void res.writeHead(valid ? o.runNow(decodeURIComponent(admin[1]!)) : 400).end();
    }
    const lower = u.pathname.toLowerCase();
    const method = (req.method ?? 'GET').toUpperCase();
    const route =
      lower === prefix || lower.startsWith(`${prefix}/`)
        ? routes
            .filter((fn) => !fn.http!.methods || fn.http!.methods.includes(method))
            .map((fn) => ({ fn, m: fn.http!.route.match(u.pathname.slice(prefix.length)) }))
            .find((x) => x.m)
        : undefined;
    if (!route) return void res.writeHead(404).end();
    await invoke(route.fn, route.m!.params, u, method, req, res);
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
    if (Number(req.headers['content-length'] ?? 0) > o.bodyLimit) return rejectTooLarge(req, res, o);
    const started = Date.now();
    // Azure's 230 s limit (Learn functions-scale.md, "Timeout"): the invocation goes on; the 502 is a guess.
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
    res.once('close', () => {
      clearTimeout(limit);
      o.log(`http ${method} ${u.pathname} -> ${fn.name} ${res.statusCode} (${Date.now() - started} ms)`);
    });

    // Proxying, the host sends an empty RpcHttp (host `GrpcMessageConversionExtensions.ToRpcHttp`); the library
    // builds the request from its proxy, headers and route parameters from the trigger metadata (`createStreamRequest`).
    const invocationId = randomUUID();
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]),
    );
    const triggerMetadata: Record<string, TypedData> = {
      Headers: { json: JSON.stringify(headers) },
      Query: { json: JSON.stringify(Object.fromEntries(u.searchParams)) },
    };
    for (const [k, v] of Object.entries(params)) triggerMetadata[k] = { string: v };
    const forwarded = request(o.httpStreamUri!, {
      method: req.method,
      path: req.url,
      headers: {
        ...req.headers,
        'x-ms-invocation-id': invocationId,
        'x-forwarded-host': u.host,
        'x-forwarded-proto': 'http',
      },
    });
    forwarded.on('response', (pres) => {
      if (res.headersSent) return void pres.resume(); // the response or body limit answered already
      const out = Object.entries(pres.headers).filter(
        ([k, v]) => v !== undefined && k !== 'x-ms-invocation-id' && !HOP_BY_HOP.test(k),
      );
      res.writeHead(pres.statusCode ?? 200, Object.fromEntries(out) as Record<string, string>);
      pres.pipe(res);
    });
    forwarded.on('error', () => undefined); // destroyed here, or the proxy went away: the response limit answers
    let size = 0;
    req.on('data', (c: Buffer) => {
      if ((size += c.length) <= o.bodyLimit) return;
      req.unpipe(forwarded);
      forwarded.destroy();
      rejectTooLarge(req, res, o);
    });
    req.pipe(forwarded);

    let status = 204; // the handler returned nothing: the library sends the proxy nothing
    try {
      const { result } = await o.invoke(fn, { http: {} }, triggerMetadata, invocationId);
      if (result != null) return; // the proxy answers
    } catch (err) {
      o.log(`[${fn.name}] ERROR ${(err as Error).stack ?? String(err)}`);
      status = 500;
    }
    forwarded.destroy();
    if (!res.headersSent) res.writeHead(status).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log(`ERROR http ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
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
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}

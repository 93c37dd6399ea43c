import { randomUUID } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { RPC_PREFIX, WEBHOOK_PREFIX, type DurableHttpApi } from './durable/clientRoutes';
import type { RpcHttpData, RpcParameterBinding, RpcTypedData } from './functionsCore';
import type { Invoker, LineLog } from './invoke';
import type { RegisteredFunction } from './registry';
import { compileRoute, comparePrecedence, type CompiledRoute } from './routes';

/**
 * The host's HTTP front door: `/<routePrefix>/<route>` for HTTP-triggered functions (authLevel is not enforced:
 * everything is anonymous locally), the Durable extension's webhook and RPC routes, and two small admin routes.
 * Bodies are streamed to the function when the app enabled HTTP streaming (`app.setup({ enableHttpStream: true })`,
 * the host then proxies the request to the worker's proxy server exactly like the real one), else buffered into
 * the RPC request as the host does without streaming.
 */

export interface HttpHostOptions {
  port: number;
  host: string;
  routePrefix: string;
  functions: RegisteredFunction[];
  invoker: Invoker;
  log: LineLog;
  /** Every function's name (the admin API tells unknown from unsupported). */
  names: string[];
  durable: DurableHttpApi | undefined;
  /** Extra inputData for a function's non-trigger inputs (the durable client binding). */
  extraInputs: (fn: RegisteredFunction) => RpcParameterBinding[];
  /** The library's HTTP proxy: the app must enable HTTP streaming (`app.setup({ enableHttpStream: true })`). */
  streamUri: string;
  /** Runs a non-HTTP function now (admin API); false if there is no such function. */
  runNow: (name: string, input: string) => boolean;
  /** FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (bytes). */
  bodyLimit: number;
  /** Time within which a response must start (230 s on Azure). */
  responseLimitMs: number;
}

interface Route {
  fn: RegisteredFunction;
  compiled: CompiledRoute;
  methods: Set<string> | undefined;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
]);

function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

class BodyTooLarge extends Error {}

/** Reads the body, failing once it passes the host's limit (Kestrel MaxRequestBodySize). */
async function readAll(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * What the host answers for a body over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (default
 * ScriptConstants.DefaultMaxRequestBodySize, 104,857,600 bytes; set on Kestrel in Program.cs and per request in
 * HttpRequestBodySizeMiddleware.cs): Kestrel's "Request body too large" surfaces as "Exception binding parameter
 * 'req'", which ExceptionMiddleware turns into a bare 500; the function never runs (azure-functions-host#10519).
 */
function rejectTooLarge(req: IncomingMessage, res: ServerResponse, log: LineLog, limit: number): void {
  log(
    `http ${req.method} ${req.url} -> 500: request body larger than ${limit} bytes (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)`,
  );
  req.resume(); // drained, so the client can finish sending and read the answer
  if (!res.headersSent) res.writeHead(500, { 'Content-Length': '0' }).end();
}

export class HttpHost {
  private server: Server | undefined;
  private readonly routes: Route[];
  private port = 0;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(private readonly opts: HttpHostOptions) {
    this.routes = opts.functions
      .filter((f) => f.http)
      .map((fn) => ({
        fn,
        compiled: compileRoute(fn.http!.route),
        methods: fn.http!.methods ? new Set(fn.http!.methods) : undefined,
      }))
      .sort((a, b) => comparePrecedence(a.compiled, b.compiled));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.log(`ERROR http ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, 2000).unref();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? `127.0.0.1:${this.port}`}`);
    const path = url.pathname;
    const durable = this.opts.durable;
    for (const prefix of [WEBHOOK_PREFIX, RPC_PREFIX]) {
      if (durable && (path === prefix || path.startsWith(`${prefix}/`))) {
        if (await durable.handle(req, res, path.slice(prefix.length), url.searchParams)) return;
        res.writeHead(404).end();
        return;
      }
    }
    const admin = /^\/admin\/functions\/([^/]+)$/.exec(path);
    if (admin && req.method === 'POST') {
      await this.runNow(decodeURIComponent(admin[1]!), req, res);
      return;
    }
    const prefix = this.opts.routePrefix
      ? `/${this.opts.routePrefix.replace(/^\/+|\/+$/g, '')}`.toLowerCase()
      : '';
    const lower = path.toLowerCase();
    if (prefix && lower !== prefix && !lower.startsWith(`${prefix}/`)) {
      res.writeHead(404).end();
      return;
    }
    const rest = path.slice(prefix.length);
    const method = (req.method ?? 'GET').toUpperCase();
    for (const route of this.routes) {
      if (route.methods && !route.methods.has(method)) continue;
      const m = route.compiled.match(rest);
      if (m) {
        await this.invokeHttp(route.fn, m.params, url, req, res);
        return;
      }
    }
    res.writeHead(404).end();
  }

  /**
   * `POST /admin/functions/<name>` with `{"input": "..."}`: 400 without a body, 404 for an unknown function, else
   * 202 at once while the function runs (FunctionsController.Invoke; Learn functions-manually-run-non-http).
   */
  private async runNow(name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let input: unknown;
    try {
      input = (JSON.parse((await readAll(req, this.opts.bodyLimit)).toString('utf8')) as { input?: unknown })
        .input;
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (!this.opts.runNow(name, typeof input === 'string' ? input : '')) {
      res.writeHead(this.opts.names.some((n) => n.toLowerCase() === name.toLowerCase()) ? 501 : 404).end();
      return;
    }
    this.opts.log(`admin: ${name} invoked on request`);
    res.writeHead(202).end();
  }

  private async invokeHttp(
    fn: RegisteredFunction,
    params: Record<string, string>,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const started = Date.now();
    const invocationId = randomUUID();
    const headers = headerRecord(req);
    const query = Object.fromEntries(url.searchParams);
    const method = (req.method ?? 'GET').toUpperCase();
    const triggerMetadata: Record<string, RpcTypedData> = {
      Headers: { json: JSON.stringify(headers) },
      Query: { json: JSON.stringify(query) },
    };
    for (const [k, v] of Object.entries(params)) triggerMetadata[k] = { string: v };
    const http: RpcHttpData = { method, url: url.href, headers, query, params };
    const done = (status: number): void =>
      this.opts.log(`http ${method} ${url.pathname} -> ${fn.name} ${status} (${Date.now() - started} ms)`);
    if (Number(req.headers['content-length'] ?? 0) > this.opts.bodyLimit) {
      rejectTooLarge(req, res, this.opts.log, this.opts.bodyLimit);
      return;
    }
    // Azure's front end drops a request whose response has not started 230 s after the request was sent (the load
    // balancer's idle timeout: Learn functions-scale.md, "Timeout"); the invocation itself goes on. The status the
    // client then sees is a guess (502).
    let limit: NodeJS.Timeout | undefined;
    req.once('end', () => {
      limit = setTimeout(() => {
        if (res.headersSent) return;
        this.opts.log(
          `http ${method} ${url.pathname} -> ${fn.name}: no response within ${this.opts.responseLimitMs} ms, answering 502`,
        );
        res.writeHead(502, { Connection: 'close' }).end();
      }, this.opts.responseLimitMs);
    });
    res.once('close', () => clearTimeout(limit));

    await this.invokeStreaming(fn, http, triggerMetadata, invocationId, req, res, done);
  }

  /** HTTP streaming: forward the request to the worker's proxy (body streamed), answer with its response. */
  private async invokeStreaming(
    fn: RegisteredFunction,
    http: RpcHttpData,
    triggerMetadata: Record<string, RpcTypedData>,
    invocationId: string,
    req: IncomingMessage,
    res: ServerResponse,
    done: (status: number) => void,
  ): Promise<void> {
    const proxy = new URL(this.opts.streamUri!);
    const forwarded = httpRequest({
      host: proxy.hostname,
      port: proxy.port,
      method: req.method,
      path: req.url,
      headers: {
        ...req.headers,
        'x-ms-invocation-id': invocationId,
        'x-forwarded-host': req.headers.host ?? `127.0.0.1:${this.port}`,
        'x-forwarded-proto': 'http',
      },
    });
    let answered = false;
    const proxied = new Promise<void>((resolve) => {
      forwarded.on('response', (pres) => {
        answered = true;
        if (res.headersSent) {
          pres.resume(); // the response limit or the body limit answered already
          resolve();
          return;
        }
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(pres.headers)) {
          if (v !== undefined && k !== 'x-ms-invocation-id' && !HOP_BY_HOP.has(k)) headers[k] = v;
        }
        res.writeHead(pres.statusCode ?? 200, headers);
        pres.pipe(res);
        pres.on('end', () => resolve());
        pres.on('error', () => resolve());
      });
      forwarded.on('error', () => resolve());
    });
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= this.opts.bodyLimit) return;
      req.unpipe(forwarded);
      forwarded.destroy();
      rejectTooLarge(req, res, this.opts.log, this.opts.bodyLimit);
    });
    req.pipe(forwarded);

    let result: unknown;
    try {
      const r = await this.opts.invoker.invokeWithResult(fn, {
        invocationId,
        inputData: [{ name: fn.trigger.name, data: { http } }, ...this.opts.extraInputs(fn)],
        triggerMetadata,
      });
      result = r.result;
    } catch (err) {
      this.opts.log(`[${fn.name}] ERROR ${(err as Error).stack ?? String(err)}`);
      if (!answered && !res.headersSent) res.writeHead(500).end();
      forwarded.destroy();
      done(500);
      return;
    }
    const hasReturnOutput = fn.outputs.some((o) => o.name === '$return');
    if (!answered && hasReturnOutput && (result === undefined || result === null)) {
      forwarded.destroy();
      res.writeHead(204).end();
      done(204);
      return;
    }
    // A named http output that was never set sends nothing to the proxy: answer 204 after a grace period.
    const settled = await Promise.race([
      proxied.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref()),
    ]);
    if (!settled && !answered) {
      forwarded.destroy();
      res.writeHead(204).end();
      done(204);
      return;
    }
    done(res.statusCode);
  }
}

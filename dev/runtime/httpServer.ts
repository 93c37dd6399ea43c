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
import type {
  RpcHttpCookie,
  RpcHttpData,
  RpcInvocationResponse,
  RpcParameterBinding,
  RpcTypedData,
} from './functionsCore';
import type { Invoker, LineLog } from './invoke';
import type { RegisteredFunction, RegisteredFunctionInfo } from './registry';
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
  info: RegisteredFunctionInfo[];
  durable: DurableHttpApi | undefined;
  /** Extra inputData for a function's non-trigger inputs (the durable client binding). */
  extraInputs: (fn: RegisteredFunction) => RpcParameterBinding[];
  /** Worker-side HTTP proxy (HTTP streaming), if the app enabled it. */
  streamUri: string | undefined;
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

function bodyBuffer(data: RpcTypedData | null | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (typeof data.string === 'string') return Buffer.from(data.string);
  if (typeof data.json === 'string') return Buffer.from(data.json);
  if (typeof data.int === 'number' || typeof data.double === 'number')
    return Buffer.from(String(data.int ?? data.double));
  return Buffer.alloc(0);
}

function serializeCookie(c: RpcHttpCookie): string {
  const parts = [`${c.name ?? ''}=${encodeURIComponent(c.value ?? '')}`];
  if (c.domain?.value) parts.push(`Domain=${c.domain.value}`);
  if (c.path?.value) parts.push(`Path=${c.path.value}`);
  const exp = c.expires?.value;
  if (exp && exp.seconds !== null && exp.seconds !== undefined)
    parts.push(`Expires=${new Date(Number(exp.seconds) * 1000).toUTCString()}`);
  if (c.maxAge?.value !== undefined && c.maxAge?.value !== null) parts.push(`Max-Age=${c.maxAge.value}`);
  if (c.secure?.value) parts.push('Secure');
  if (c.httpOnly?.value) parts.push('HttpOnly');
  if (c.sameSite === 'lax') parts.push('SameSite=Lax');
  else if (c.sameSite === 'strict') parts.push('SameSite=Strict');
  else if (c.sameSite === 'explicitNone') parts.push('SameSite=None');
  return parts.join('; ');
}

function writeRpcHttp(res: ServerResponse, http: RpcHttpData): void {
  const status = Number(http.statusCode) || 200;
  for (const [k, v] of Object.entries(http.headers ?? {})) {
    if (!HOP_BY_HOP.has(k.toLowerCase()) && k.toLowerCase() !== 'content-length') res.setHeader(k, v);
  }
  const cookies = (http.cookies ?? []).map(serializeCookie);
  if (cookies.length > 0) res.setHeader('Set-Cookie', cookies);
  const body = bodyBuffer(http.body);
  res.statusCode = status;
  if (status === 204 || status === 304) res.end();
  else res.end(body);
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
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
    if (path === '/admin/host/status') {
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ state: 'Running', runtime: 'local' }));
      return;
    }
    if (path === '/admin/functions') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(this.opts.info));
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

    if (this.opts.streamUri) {
      await this.invokeStreaming(fn, http, triggerMetadata, invocationId, req, res, done);
      return;
    }
    http.body = { bytes: await readAll(req) };
    let response: RpcInvocationResponse;
    try {
      response = await this.opts.invoker.invoke(fn, {
        invocationId,
        inputData: [{ name: fn.trigger.name, data: { http } }, ...this.opts.extraInputs(fn)],
        triggerMetadata,
      });
    } catch (err) {
      this.opts.log(`[${fn.name}] ERROR ${(err as Error).stack ?? String(err)}`);
      res.writeHead(500).end();
      done(500);
      return;
    }
    const out = this.httpOutput(fn, response);
    if (out?.http) {
      writeRpcHttp(res, out.http);
      done(res.statusCode);
    } else {
      res.writeHead(204).end();
      done(204);
    }
  }

  private httpOutput(
    fn: RegisteredFunction,
    response: RpcInvocationResponse,
  ): RpcTypedData | null | undefined {
    const binding = fn.outputs.find((o) => o.type.toLowerCase() === 'http');
    if (!binding) return undefined;
    if (binding.name === '$return') return response.returnValue;
    return response.outputData?.find((o) => o.name === binding.name)?.data;
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

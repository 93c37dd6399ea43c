import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through HTTP proxy in front of one Azurite service that counts requests: the app's
 * storage transactions as Azure would bill them, seen on the wire rather than estimated.
 */
export interface CountingProxy {
  port: number;
  counts: Map<string, number>;
  total(): number;
  reset(): void;
  close(): Promise<void>;
}

/** One request as the proxy saw it: `key` is service, method and `comp`/`restype` (e.g. `blob PUT block`). */
export interface SeenRequest {
  key: string;
  method: string;
  /** The path without the query, e.g. `/devstoreaccount1/jobs123(PartitionKey='..',RowKey='..')`. */
  path: string;
  query: URLSearchParams;
}

function operation(method: string, url: string): string {
  const q = new URL(url, 'http://x').searchParams;
  const comp = q.get('comp') ?? q.get('restype') ?? '';
  return `${method}${comp ? ` ${comp}` : ''}`;
}

export async function startCountingProxy(
  service: string,
  targetPort: number,
  onRequest?: (r: SeenRequest) => void,
): Promise<CountingProxy> {
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const key = `${service} ${operation(req.method ?? 'GET', req.url ?? '/')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const url = new URL(req.url ?? '/', 'http://x');
    onRequest?.({
      key,
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
    });
    const up = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections(); // idle keep-alive sockets would hold close() open
      }),
  };
}

import type { HttpResponseInit } from '@azure/functions';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';

/**
 * The dashboard's static files (built by `npm run build:web` into dist/web/), served by the app itself so it
 * works in Azure, locally and offline. Only known file types, only files under the web root.
 */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** dist/web beside the package.json above `fromDir`: src/functions under tsx, dist/src/functions when built. */
export function webRoot(fromDir: string): string {
  let dir = resolve(fromDir);
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'web');
}

const notFound = (message: string): HttpResponseInit => ({
  status: 404,
  jsonBody: { error: { code: 'NotFound', message } },
  headers: { 'Content-Type': 'application/json' },
});

export async function serveUi(root: string, path: string | undefined): Promise<HttpResponseInit> {
  const rel = path && path !== '/' ? path : 'index.html';
  // The host has already percent-decoded the route parameter: refuse anything that could leave the root.
  const segments = rel.split('/');
  if (/[\\\u0000-\u001f]/.test(rel) || segments.some((s) => s === '' || s === '.' || s === '..'))
    return notFound(`No dashboard file "${rel}".`);
  const type = TYPES[extname(rel).toLowerCase()];
  const file = resolve(root, ...segments);
  if (!type || !file.startsWith(resolve(root) + sep)) return notFound(`No dashboard file "${rel}".`);
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return notFound(
      rel === 'index.html'
        ? 'The dashboard is not built: run `npm run build:web`.'
        : `No dashboard file "${rel}".`,
    );
  }
  return {
    status: 200,
    body,
    headers: {
      'Content-Type': type,
      // Vite names files under assets/ by content hash; everything else (index.html) is revalidated.
      'Cache-Control': rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      // The page may be opened with ?code=<function key>: never send that address anywhere.
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
    },
  };
}

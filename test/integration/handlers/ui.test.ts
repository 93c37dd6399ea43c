import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveUi, webRoot } from '../../../src/handlers/ui';

/** The dashboard's static files, from a real folder: types, caching, and nothing outside the root. */
let dir: string;
let root: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ui-'));
  root = join(dir, 'web');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(root, 'assets', 'app-abc123.js'), 'console.log(1)');
  writeFileSync(join(root, 'notes.unknown'), 'no type for this');
  writeFileSync(join(dir, 'secret.txt'), 'outside the web root');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const header = (r: { headers?: unknown }, name: string): string | undefined =>
  (r.headers as Record<string, string>)[name];

test('the page: HTML, revalidated every time, never leaking its address', async () => {
  for (const path of [undefined, '', 'index.html']) {
    const r = await serveUi(root, path);
    expect(r.status).toBe(200);
    expect(String(r.body)).toContain('<title>x</title>');
    expect(header(r, 'Content-Type')).toBe('text/html; charset=utf-8');
    expect(header(r, 'Cache-Control')).toBe('no-cache');
    expect(header(r, 'Referrer-Policy')).toBe('no-referrer');
    expect(header(r, 'X-Content-Type-Options')).toBe('nosniff');
  }
});

test('hashed assets are cached for good', async () => {
  const r = await serveUi(root, 'assets/app-abc123.js');
  expect(r.status).toBe(200);
  expect(header(r, 'Content-Type')).toBe('text/javascript; charset=utf-8');
  expect(header(r, 'Cache-Control')).toBe('public, max-age=31536000, immutable');
});

test.each([
  '../secret.txt',
  'assets/../../secret.txt',
  '/etc/passwd',
  'assets//app-abc123.js',
  './index.html',
  'assets\\..\\..\\secret.txt',
  'index.html\u0000.js',
  'notes.unknown',
  'missing.js',
  'assets',
])('404 for %j', async (path) => {
  const r = await serveUi(root, path);
  expect(r.status).toBe(404);
  expect((r.jsonBody as { error: { code: string } }).error.code).toBe('NotFound');
});

test('an unbuilt dashboard says how to build it', async () => {
  const r = await serveUi(join(dir, 'nothing-here'), undefined);
  expect(r.status).toBe(404);
  expect((r.jsonBody as { error: { message: string } }).error.message).toContain('npm run build:web');
});

test('the web root is dist/web beside package.json, from the sources and from the build', () => {
  const repo = join(__dirname, '..', '..', '..');
  expect(webRoot(join(repo, 'src', 'functions'))).toBe(join(repo, 'dist', 'web'));
  expect(webRoot(join(repo, 'dist', 'src', 'functions'))).toBe(join(repo, 'dist', 'web'));
});

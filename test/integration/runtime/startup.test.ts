import { spawn } from 'node:child_process';
import { parseBlobPath } from '../../../dev/runtime/blobWatcher';
import { scaledClock } from '../../../dev/runtime/clock';
import { compileRoute, comparePrecedence } from '../../../dev/runtime/httpServer';
import { testConnectionString } from '../../support/storage';
import { REPO_ROOT } from './support';

jest.setTimeout(30_000);

it('refuses to start an app with triggers or bindings it cannot emulate, naming each', async () => {
  const env: Record<string, string | undefined> = {
    ...process.env,
    AzureWebJobsStorage: testConnectionString(),
  };
  delete env.JEST_WORKER_ID;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'dev/runtime/main.ts',
      '--entry',
      'test/integration/runtime/fixtures/unsupported/index.ts',
      '--port',
      '0',
    ],
    { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  expect(code).toBe(1);
  expect(out).toMatch(/function "onQueue": trigger type "queueTrigger" is not supported/);
  expect(out).toMatch(
    /function "withQueueOutput": HTTP functions need app.setup\(\{ enableHttpStream: true \}\)/,
  );
  expect(out).toMatch(/route "jobs\/\{id:int\}": segment "\{id:int\}" is not supported/);
  expect(out).toMatch(/Timer schedule "0 \*\/5 \* \* \*" is not a 6-field NCRONTAB expression/);
  expect(out).toMatch(/function "onStartup": runOnStartup is not supported/);
  expect(out).toMatch(/function "withQueueOutput": output binding "\w+" of type "queue" is not supported/);
  expect(out).toMatch(/hooks \(app\.hook\.appStart, app\.hook\.preInvocation\) are not supported/);
  expect(out).not.toMatch(/LOCAL_RUNTIME_READY/);
});

describe('route templates', () => {
  it('matches literals case-insensitively, {param} and a trailing catch-all (also empty)', () => {
    expect(compileRoute('jobs/{id}').match('/Jobs/42')).toEqual({ params: { id: '42' } });
    expect(compileRoute('jobs/{id}/cancel').match('/jobs/a%20b/cancel')).toEqual({ params: { id: 'a b' } });
    expect(compileRoute('jobs/{id}').match('/jobs/1/2')).toBeUndefined();
    expect(compileRoute('ui/{*path}').match('/ui/a/b/c.js')).toEqual({ params: { path: 'a/b/c.js' } });
    expect(compileRoute('ui/{*path}').match('/ui')).toEqual({ params: {} });
  });

  it('orders literal segments before parameters before catch-alls', () => {
    const routes = ['{*all}', 'jobs/{id}', 'jobs/latest'].map(compileRoute).sort(comparePrecedence);
    expect(routes.map((r) => r.template)).toEqual(['jobs/latest', 'jobs/{id}', '{*all}']);
  });

  it('refuses constraints, optional parameters, defaults and complex segments', () => {
    for (const t of ['jobs/{id:int}', 'echo/{a?}', 'page/{n=1}', 'files/{name}.{ext}', '{*a}/b'])
      expect(() => compileRoute(t)).toThrow(/not supported|catch-all must be last/);
  });
});

it('parses blob trigger paths', () => {
  const p = parseBlobPath('inbox/uploads/{name}.csv');
  expect(p).toMatchObject({ container: 'inbox', prefix: 'uploads/', params: ['name'] });
  expect(p.regex.exec('uploads/a/b.csv')?.[1]).toBe('a/b');
  expect(p.regex.test('uploads/a.txt')).toBe(false);
  expect(() => parseBlobPath('{c}/x')).toThrow(/literal container/);
});

it('a scaled clock runs durable time faster than real time, never firing early', async () => {
  const clock = scaledClock(1000);
  const start = clock.now();
  const at = await new Promise<number>((resolve) => clock.at(start + 5_000, () => resolve(clock.now())));
  expect(at).toBeGreaterThanOrEqual(start + 5_000);
});

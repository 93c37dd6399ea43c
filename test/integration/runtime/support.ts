import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { eventually } from '../../support/eventually';

/**
 * Runs the local runtime (dev/runtime/main.ts) with the fixture app in a child process: app registrations are
 * module-level, so every runtime needs its own process, and a child can be SIGKILLed to test crash recovery.
 */

export const REPO_ROOT = resolve(__dirname, '../../..');
export const FIXTURE_ENTRY = 'test/integration/runtime/fixtures/app/index.ts';

export interface RuntimeProcess {
  url: string;
  /** Every line the runtime printed so far (stdout and stderr). */
  lines: string[];
  child: ChildProcess;
  /** Graceful stop (SIGTERM), resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no cleanup at all, like a crashed host. */
  kill(): Promise<void>;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export function stateDir(): string {
  return mkdtempSync(join(tmpdir(), 'runtime-fixture-'));
}

export async function spawnRuntime(
  env: Record<string, string>,
  opts: { entry?: string; args?: string[] } = {},
): Promise<RuntimeProcess> {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    // the fixture's timers only run when a test asks (admin API, past due, or its own schedule)
    FIXTURE_YEARLY_SCHEDULE: '0 0 0 1 1 *',
    FIXTURE_EVERY_SECOND_SCHEDULE: '0 0 0 1 1 *',
    ...env,
  };
  delete childEnv.JEST_WORKER_ID; // the runtime refuses to start inside jest's module system
  delete childEnv.WEBSITE_HOSTNAME;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'dev/runtime/main.ts',
      '--entry',
      opts.entry ?? FIXTURE_ENTRY,
      '--port',
      '0',
      ...(opts.args ?? []),
    ],
    { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const readLines = (stream: NodeJS.ReadableStream): void => {
    let partial = '';
    stream.on('data', (buf: Buffer) => {
      const parts = (partial + buf.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) lines.push(line);
      for (const l of listeners) l();
    });
  };
  readLines(child.stdout!);
  readLines(child.stderr!);

  const waitForLine = (pattern: RegExp, timeoutMs = 20_000): Promise<string> =>
    new Promise((resolvePromise, reject) => {
      const check = (): boolean => {
        const hit = lines.find((l) => pattern.test(l));
        if (hit) {
          cleanup();
          resolvePromise(hit);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.slice(-40).join('\n')}`,
          ),
        );
      }, timeoutMs);
      const onExit = (): void => {
        if (!check()) {
          cleanup();
          reject(new Error(`runtime exited; output:\n${lines.slice(-40).join('\n')}`));
        }
      };
      const listener = (): void => void check();
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
        child.off('exit', onExit);
      };
      listeners.add(listener);
      child.once('exit', onExit);
      check();
    });

  const ready = await waitForLine(/^LOCAL_RUNTIME_READY /, 30_000);
  const { url } = JSON.parse(ready.slice('LOCAL_RUNTIME_READY '.length)) as { url: string };
  return {
    url,
    lines,
    child,
    waitForLine,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** `eventually` with this suite's defaults. */
export function waitFor<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  return eventually(probe, { what, timeoutMs }) as Promise<T>;
}

export interface Status {
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
}

/** Status through the Durable HTTP API the client uses (rpc base), not through the app. */
export async function getStatus(base: string, id: string, query = ''): Promise<Status | undefined> {
  const r = await fetch(`${base}/runtime/webhooks/durabletask/instances/${encodeURIComponent(id)}${query}`);
  if (r.status === 404) return undefined;
  return (await r.json()) as Status;
}

export async function waitForStatus(
  base: string,
  id: string,
  statuses: string[],
  timeoutMs = 20_000,
): Promise<Status> {
  return waitFor(
    async () => {
      const s = await getStatus(base, id);
      return s && statuses.includes(s.runtimeStatus) ? s : undefined;
    },
    `instance ${id} to reach ${statuses.join('/')}`,
    timeoutMs,
  );
}

export async function post(url: string, body?: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Azurite from its npm package (no global install, no Docker), for the tests and `npm start`.
 * Azurite's published development account; its key is public and only works against the emulator.
 */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteInstance {
  blobPort: number;
  queuePort: number;
  tablePort: number;
  connectionString: string;
  stop(): Promise<void>;
}

export function devConnectionString(ports: {
  blobPort: number;
  queuePort: number;
  tablePort: number;
}): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_KEY}`,
    `BlobEndpoint=http://127.0.0.1:${ports.blobPort}/${DEV_ACCOUNT}`,
    `QueueEndpoint=http://127.0.0.1:${ports.queuePort}/${DEV_ACCOUNT}`,
    `TableEndpoint=http://127.0.0.1:${ports.tablePort}/${DEV_ACCOUNT}`,
  ].join(';');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether something accepts connections on this loopback port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = new Socket();
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1');
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await isListening(port)) return;
    if (Date.now() > deadline) throw new Error(`Azurite did not open port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts Azurite from the npm package (no global install, no Docker) on the given or free ports.
 * `location` persists data; a temp folder is used (and removed on stop) when none is given.
 */
export async function startAzurite(
  opts: {
    blobPort?: number;
    queuePort?: number;
    tablePort?: number;
    location?: string;
    silent?: boolean;
  } = {},
): Promise<AzuriteInstance> {
  const blobPort = opts.blobPort ?? (await freePort());
  const queuePort = opts.queuePort ?? (await freePort());
  const tablePort = opts.tablePort ?? (await freePort());
  const ownsLocation = !opts.location;
  const location = opts.location ?? mkdtempSync(join(tmpdir(), 'azurite-'));
  const bin = require.resolve('azurite/dist/src/azurite.js');
  // Azurite stops (cleanly, through its own SIGTERM handler) when the pipe from this process closes, so it
  // never outlives its owner, even one killed with SIGKILL that could not stop it.
  const watchdog = [
    `process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM')).resume();`,
    // Once stopping, the pipe must not keep the process alive: Azurite exits when its servers are closed.
    `for (const s of ['SIGTERM', 'SIGINT']) process.once(s, () => process.stdin.destroy());`,
    `process.argv.splice(1, 0, ${JSON.stringify(bin)});`,
    `require(${JSON.stringify(bin)});`,
  ].join(' ');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      watchdog,
      '--',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(blobPort),
      '--queueHost',
      '127.0.0.1',
      '--queuePort',
      String(queuePort),
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(tablePort),
      '--location',
      location,
      '--skipApiVersionCheck',
      '--loose',
      '--disableProductStyleUrl',
      '--disableTelemetry',
      ...(opts.silent === false ? [] : ['--silent']),
    ],
    {
      stdio: [
        'pipe',
        opts.silent === false ? 'inherit' : 'ignore',
        opts.silent === false ? 'inherit' : 'ignore',
      ],
    },
  );
  // The pipe is only there to close when this process ends; it must not keep this process alive.
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await Promise.all([
    waitForPort(blobPort, 30_000),
    waitForPort(queuePort, 30_000),
    waitForPort(tablePort, 30_000),
  ]);
  return {
    blobPort,
    queuePort,
    tablePort,
    connectionString: devConnectionString({ blobPort, queuePort, tablePort }),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      if (ownsLocation) rmSync(location, { recursive: true, force: true });
    },
  };
}

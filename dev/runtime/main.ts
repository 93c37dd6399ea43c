import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalRuntime } from './index';

/**
 * CLI: `node --import tsx dev/runtime/main.ts --entry src/index.ts [--port 7071]`; everything else from the
 * environment (see README). `local.settings.json` `Values` fill variables that are not set, like Core Tools. Prints
 * `LOCAL_RUNTIME_READY {"url":...}` once it serves; stops gracefully on SIGINT/SIGTERM (a second signal exits).
 */
const stamp = (line: string): boolean => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function num(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!Number.isFinite(Number(value))) throw new Error(`${name} must be a number (got "${value}")`);
  return Number(value);
}

async function main(): Promise<void> {
  const file = join(process.cwd(), 'local.settings.json');
  const values = existsSync(file)
    ? ((JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> }).Values ?? {})
    : {};
  for (const [k, v] of Object.entries(values))
    if (process.env[k] === undefined && v != null) process.env[k] = String(v);
  const env = process.env;
  const entry = arg('entry') ?? env.LOCAL_RUNTIME_ENTRY;
  if (!entry) throw new Error('Usage: main.ts --entry <app entry file> (or LOCAL_RUNTIME_ENTRY)');
  if (!env.AzureWebJobsStorage)
    throw new Error('AzureWebJobsStorage is not set (the runtime keeps its state there)');
  const blobPollIntervalMs = num(env.LOCAL_RUNTIME_BLOB_POLL_MS, 'LOCAL_RUNTIME_BLOB_POLL_MS');
  const maxConcurrentActivities = num(env.LOCAL_RUNTIME_MAX_ACTIVITIES, 'LOCAL_RUNTIME_MAX_ACTIVITIES');
  const timeScale = num(env.LOCAL_RUNTIME_TIME_SCALE, 'LOCAL_RUNTIME_TIME_SCALE') ?? 1;
  const runtime = await startLocalRuntime({
    entry,
    storageConnectionString: env.AzureWebJobsStorage,
    httpPort: num(arg('port') ?? env.LOCAL_RUNTIME_PORT, 'port') ?? 7071,
    ...(blobPollIntervalMs !== undefined ? { blobPollIntervalMs } : {}),
    ...(maxConcurrentActivities !== undefined ? { maxConcurrentActivities } : {}),
    timeScale,
    log: stamp,
  });
  process.stdout.write(
    `LOCAL_RUNTIME_READY ${JSON.stringify({ url: runtime.url, taskHub: runtime.taskHub })}\n`,
  );
  let signals = 0;
  const shutdown = (signal: string): void => {
    if (++signals > 1) process.exit(1);
    stamp(`${signal} received, stopping`);
    runtime.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        stamp(`ERROR stopping: ${(err as Error).stack ?? String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `local runtime failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});

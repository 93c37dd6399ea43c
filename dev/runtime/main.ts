import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalRuntime, type LocalRuntime } from './index';

/**
 * CLI: `tsx dev/runtime/main.ts --entry src/index.ts [--port 7071] [--hub name] [--blob-poll-ms 1000]
 * [--max-activities 8] [--time-scale 1]`. Settings come from the environment; a `local.settings.json` in the working
 * directory fills in `Values` that are not already set (like Core Tools). Prints `LOCAL_RUNTIME_READY {"url":...}`
 * once it serves requests, runs until SIGINT/SIGTERM, then stops gracefully (a second signal exits at once).
 */

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`Unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new Error(`Missing value for ${a}`);
      out[a.slice(2)] = v;
      i++;
    }
  }
  return out;
}

function loadLocalSettings(): void {
  const file = join(process.cwd(), 'local.settings.json');
  if (!existsSync(file)) return;
  const json = JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> };
  for (const [k, v] of Object.entries(json.Values ?? {})) {
    if (process.env[k] === undefined && v !== null && v !== undefined) process.env[k] = String(v);
  }
}

function num(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number (got "${value}")`);
  return n;
}

function stamp(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  loadLocalSettings();
  const env = process.env;
  const entry = args.entry ?? env.LOCAL_RUNTIME_ENTRY;
  if (!entry)
    throw new Error('Usage: tsx dev/runtime/main.ts --entry <app entry file> (or LOCAL_RUNTIME_ENTRY)');
  const storage = env.AzureWebJobsStorage;
  if (!storage) throw new Error('AzureWebJobsStorage is not set (the runtime keeps its state there)');
  const timeScale = num(args['time-scale'] ?? env.LOCAL_RUNTIME_TIME_SCALE, 'time scale');

  const runtime: LocalRuntime = await startLocalRuntime({
    entry,
    storageConnectionString: storage,
    httpPort: num(args.port ?? env.LOCAL_RUNTIME_PORT, 'port') ?? 7071,
    ...(args.hub ? { taskHub: args.hub } : {}),
    ...(num(args['blob-poll-ms'] ?? env.LOCAL_RUNTIME_BLOB_POLL_MS, 'blob poll interval') !== undefined
      ? {
          blobPollIntervalMs: num(
            args['blob-poll-ms'] ?? env.LOCAL_RUNTIME_BLOB_POLL_MS,
            'blob poll interval',
          )!,
        }
      : {}),
    ...(num(args['max-activities'] ?? env.LOCAL_RUNTIME_MAX_ACTIVITIES, 'max activities') !== undefined
      ? {
          maxConcurrentActivities: num(
            args['max-activities'] ?? env.LOCAL_RUNTIME_MAX_ACTIVITIES,
            'max activities',
          )!,
        }
      : {}),
    ...(timeScale !== undefined && timeScale !== 1 ? { clock: { timeScale } } : {}),
    log: stamp,
  });
  process.stdout.write(
    `LOCAL_RUNTIME_READY ${JSON.stringify({ url: runtime.url, taskHub: runtime.taskHub, functions: runtime.functions.length })}\n`,
  );

  let signals = 0;
  const shutdown = (signal: string): void => {
    signals++;
    if (signals > 1) process.exit(1);
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

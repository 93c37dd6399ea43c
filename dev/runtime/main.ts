import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { numberSetting, startLocalRuntime } from './index';

/**
 * CLI: `node --import tsx dev/runtime/main.ts --entry src/index.ts [--port 7071]`; everything else from the
 * environment (see README), where `local.settings.json` `Values` fill variables that are not set, like Core Tools.
 * Prints `LOCAL_RUNTIME_READY {"url":...}` once it serves; stops gracefully on SIGINT/SIGTERM (a second one exits).
 */
const stamp = (line: string): boolean => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
const { values: args } = parseArgs({ options: { entry: { type: 'string' }, port: { type: 'string' } } });

async function main(): Promise<void> {
  const values = existsSync('local.settings.json')
    ? ((JSON.parse(readFileSync('local.settings.json', 'utf8')) as { Values?: Record<string, unknown> })
        .Values ?? {})
    : {};
  for (const [k, v] of Object.entries(values))
    if (process.env[k] === undefined && v != null) process.env[k] = String(v);
  const entry = args.entry ?? process.env.LOCAL_RUNTIME_ENTRY;
  if (!entry) throw new Error('Usage: main.ts --entry <app entry file> (or LOCAL_RUNTIME_ENTRY)');
  const runtime = await startLocalRuntime({
    entry,
    httpPort: numberSetting('port', args.port ?? process.env.LOCAL_RUNTIME_PORT) ?? 7071,
    log: stamp,
  });
  process.stdout.write(
    `LOCAL_RUNTIME_READY ${JSON.stringify({ url: runtime.url, taskHub: runtime.taskHub })}\n`,
  );
  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.on(signal, () => {
      if (++signals > 1) process.exit(1);
      stamp(`${signal} received, stopping`);
      runtime.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          stamp(`ERROR stopping: ${(err as Error).stack ?? String(err)}`);
          process.exit(1);
        },
      );
    });
}

main().catch((err: unknown) => {
  console.error(`local runtime failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

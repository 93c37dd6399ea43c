import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isListening } from '../support/azurite';
import { eventually } from '../support/eventually';
import { alive, launch, ready, type Launched } from './startScript';

/**
 * SIGTERM and SIGINT stop the whole local stack: its own Azurite (a child process), the AML emulator and
 * the runtime, and free every port. The script's process exits only once all are gone. Through npm, whose
 * shell dies of the signal without passing it on, dev/start.ts sees npm gone and stops too. Even a SIGKILL,
 * which nothing can handle, leaves no Azurite behind.
 */
jest.setTimeout(150_000);

let location: string;
beforeAll(() => {
  location = mkdtempSync(join(tmpdir(), 'azurite-signals-'));
});
afterAll(() => rmSync(location, { recursive: true, force: true }));

async function stackEnv(): Promise<{
  env: Record<string, string | undefined>;
  ports: number[];
  http: number;
}> {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const [blob, queue, table, aml, http] = ports as [number, number, number, number, number];
  return {
    ports,
    http,
    env: {
      AZURITE_BLOB_PORT: String(blob),
      AZURITE_QUEUE_PORT: String(queue),
      AZURITE_TABLE_PORT: String(table),
      AML_EMULATOR_PORT: String(aml),
      FUNCTIONS_HTTP_PORT: String(http),
      AZURITE_LOCATION: location,
      LOCAL_PROGRESS: 'off',
      // Whatever the test run exports, this stack starts its own Azurite and emulator.
      STORAGE_CONNECTION_STRING: undefined,
      AML_SCORING_URI: undefined,
    },
  };
}

async function listening(ports: number[]): Promise<number[]> {
  const open = await Promise.all(ports.map((p) => isListening(p)));
  return ports.filter((_, i) => open[i]);
}

/** Every process of the stack has exited and none of its ports answers. */
async function allGone(tree: number[], ports: number[], what: string): Promise<void> {
  await eventually(
    async () => {
      expect(tree.filter(alive)).toEqual([]);
      expect(await listening(ports)).toEqual([]);
      return true;
    },
    { timeoutMs: 30_000, what },
  );
}

async function started(how: 'npm' | 'node'): Promise<{ l: Launched; ports: number[]; tree: number[] }> {
  for (let attempt = 1; ; attempt++) {
    const { env, ports, http } = await stackEnv();
    const l = launch(how, env);
    try {
      await ready(l, http);
    } catch (err) {
      // Another suite bound one of these free ports between the probe and the start: new ports, once more.
      if (attempt < 3 && /EADDRINUSE/.test(String(err))) continue;
      throw err;
    }
    expect(await listening(ports)).toEqual(ports);
    const tree = l.descendants();
    return { l, ports, tree };
  }
}

test.each(['SIGTERM', 'SIGINT'] as const)(
  '%s to the script (what npm start runs): it exits only after Azurite, the emulator and the runtime are gone',
  async (signal) => {
    const { l, ports, tree } = await started('node');
    expect(tree.length).toBeGreaterThanOrEqual(1); // Azurite, at least
    l.child.kill(signal);
    const exit = await l.exited;
    expect(exit.code).toBe(0);
    // No waiting here: by the time the script has exited, everything it started already has.
    expect(await listening(ports)).toEqual([]);
    expect(tree.filter(alive)).toEqual([]);
    expect(l.output.join('\n')).toContain(`${signal}: stopping`);
  },
);

test('SIGTERM to npm start: every process of the stack exits and the ports are freed', async () => {
  const { l, ports, tree } = await started('npm');
  l.child.kill('SIGTERM');
  await l.exited;
  await allGone(tree, ports, 'the stack to stop after npm was terminated');
});

test('SIGKILL to the script: its Azurite notices and exits, and the ports are freed', async () => {
  const { l, ports, tree } = await started('node');
  l.child.kill('SIGKILL');
  await l.exited;
  await allGone(tree, ports, 'Azurite to exit after its owner was killed');
});

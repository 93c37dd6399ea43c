import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '../support/eventually';

/**
 * `dev/start.ts` launched as `npm start` (npm → sh → node) or as the command that script runs
 * (`node --import tsx dev/start.ts`), for the signal, start-up and restart tests, which need the script's
 * own process rather than the shared e2e stack.
 */
export const root = join(__dirname, '..', '..');

export interface Launched {
  child: ChildProcess;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Every process below `child`, as `ps` lists them now, except tsx's esbuild service: it is tsx's, not
   * the stack's, holds no port, and ends by itself once the pipe from its parent closes.
   */
  descendants(): number[];
}

/** `env` adds to this process's environment; an undefined value removes the variable. */
export function launch(how: 'npm' | 'node', env: Record<string, string | undefined>): Launched {
  // A user's shell, not a jest worker's: the child must not think it runs inside jest.
  const { JEST_WORKER_ID: _w, ...parentEnv } = process.env;
  const [cmd, args] =
    how === 'npm'
      ? ['npm', ['start']]
      : [process.execPath, ['--import', 'tsx', join(root, 'dev', 'start.ts')]];
  const childEnv: Record<string, string | undefined> = { ...parentEnv, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(cmd, args as string[], {
    cwd: root,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const collect = (b: Buffer): void => void output.push(...b.toString('utf8').split('\n').filter(Boolean));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output,
    exited,
    descendants() {
      const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => {
          const [pid, ppid, ...args] = l.trim().split(/\s+/);
          return { pid: Number(pid), ppid: Number(ppid), cmd: args.join(' ') };
        });
      const out: number[] = [];
      const walk = (pid: number): void => {
        for (const r of rows) {
          if (r.ppid !== pid) continue;
          if (!/esbuild --service/.test(r.cmd)) out.push(r.pid);
          walk(r.pid);
        }
      };
      walk(child.pid!);
      return out;
    },
  };
}

/** Waits until the API answers; fails at once, with the script's output, if the script exits first. */
export async function ready(l: Launched, httpPort: number): Promise<void> {
  const exitedFirst = l.exited.then((e) => {
    throw new Error(`npm start exited (${e.code ?? e.signal}) before serving:\n${l.output.join('\n')}`);
  });
  const serving = eventually(
    async () => {
      const r = await fetch(`http://127.0.0.1:${httpPort}/api/jobs?top=1`);
      if (!r.ok) throw new Error(`API answered ${r.status}`);
      return true;
    },
    { timeoutMs: 90_000, everyMs: 200, what: 'npm start to serve the API' },
  );
  exitedFirst.catch(() => undefined);
  await Promise.race([serving, exitedFirst]);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

import { execFileSync } from 'node:child_process';

/**
 * Calls `gone` once the `npm` process this one runs under has exited. `npm start` runs
 * `sh -c "node --import tsx dev/start.ts"`, and npm forwards SIGTERM only to that shell (npm's run-script
 * signal-manager), which dies of it without passing it on: this process would live on, orphaned,
 * holding the ports. Looks at most four ancestors up for npm (POSIX `ps`); does nothing without one.
 */
export function whenLauncherGone(gone: () => void, everyMs = 500): void {
  if (process.platform === 'win32') return;
  let pid = process.ppid;
  let npm: number | undefined;
  try {
    for (let i = 0; i < 4 && pid > 1; i++) {
      const [ppid, ...args] = execFileSync('ps', ['-o', 'ppid=,args=', '-p', String(pid)], {
        encoding: 'utf8',
      })
        .trim()
        .split(/\s+/);
      if (/(^|\/)npm(-cli\.js)?$/.test(args[0] ?? '') || /(^|\/)npm(-cli\.js)?$/.test(args[1] ?? '')) {
        npm = pid;
        break;
      }
      pid = Number(ppid);
    }
  } catch {
    return; // no ps: signals still work, only this fallback is missing
  }
  if (npm === undefined) return;
  const watched = npm;
  const timer = setInterval(() => {
    try {
      process.kill(watched, 0);
    } catch {
      clearInterval(timer);
      gone();
    }
  }, everyMs);
  timer.unref();
}

import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const CHILD = join(__dirname, 'pipelineChild.ts');

/**
 * Runs one mode of `pipelineChild.ts` in a fresh Node process (`node --import tsx`), so what it
 * measures (memory above all) is its own: returns the JSON line it prints, forwards its stderr to
 * `log`, and rejects if it exits non-zero.
 */
export function runChild<T>(
  mode: string,
  arg: unknown,
  opts: { connectionString: string; log(line: string): void },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, JSON.stringify(arg)], {
      cwd: ROOT,
      env: { ...process.env, BENCH_CONNECTION_STRING: opts.connectionString },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const tail: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s;
      const lines = err.split('\n');
      err = lines.pop() ?? '';
      for (const l of lines) {
        if (l.trim() === '') continue;
        tail.push(l);
        if (tail.length > 20) tail.shift();
        opts.log(`[${mode}] ${l}`);
      }
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (err.trim()) tail.push(err);
      if (code !== 0) {
        reject(new Error(`${mode} child ended ${signal ?? code}:\n${tail.join('\n')}`));
        return;
      }
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'));
      if (!line) {
        reject(new Error(`${mode} child printed no result`));
        return;
      }
      resolve(JSON.parse(line) as T);
    });
  });
}

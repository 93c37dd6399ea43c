import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { startAzurite } from '../dev/azurite';
import type { BenchContext, BenchRow, Figure } from './types';

/**
 * `npm run bench [-- figure ...]`: measures, prints a table, writes `.bench/results-<date>.json`.
 * Not a test: nothing here asserts a timing. `BENCH_SCALE=0.1` shrinks the data for a quick look.
 */
const FIGURES: Record<string, () => Promise<Figure>> = {
  validation: async () => (await import('./figures/validation')).validation,
  memory: async () => (await import('./figures/memory')).memory,
  copy: async () => (await import('./figures/copy')).copy,
  overhead: async () => (await import('./figures/overhead')).overhead,
  burst: async () => (await import('./figures/burst')).burst,
  polling: async () => (await import('./figures/polling')).polling,
  shaping: async () => (await import('./figures/shaping')).shaping,
  capacity: async () => (await import('./figures/capacity')).capacity,
};

function table(rows: BenchRow[]): string {
  const cells = rows.map((r) => [
    r.figure,
    `${r.value.toFixed(r.value >= 100 ? 0 : 2)} ${r.unit}`,
    r.compare ?? '',
    r.target ?? '',
  ]);
  const head = ['figure', 'value', 'compared with', 'target'];
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => `| ${c.map((x, i) => x.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length ? wanted : Object.keys(FIGURES);
  for (const n of names)
    if (!FIGURES[n]) throw new Error(`unknown figure "${n}"; known: ${Object.keys(FIGURES).join(', ')}`);
  const scale = Number(process.env.BENCH_SCALE ?? 1);
  const scratch = mkdtempSync(join(tmpdir(), 'bench-'));
  const azurite = await startAzurite({ location: join(scratch, 'azurite') });
  const ctx: BenchContext = {
    scratch,
    connectionString: azurite.connectionString,
    scale,
    log: (l) => console.error(`  ${l}`),
  };
  const rows: BenchRow[] = [];
  try {
    for (const n of names) {
      console.error(`== ${n}`);
      const figure = await FIGURES[n]!();
      const got = await figure(ctx);
      for (const r of got)
        console.error(`  ${r.figure}: ${r.value.toFixed(2)} ${r.unit}${r.compare ? ` (${r.compare})` : ''}`);
      rows.push(...got);
    }
  } finally {
    await azurite.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const result = {
    date: new Date().toISOString(),
    commit,
    scale,
    node: process.version,
    cpus: (await import('node:os')).cpus().length,
    rows,
  };
  mkdirSync('.bench', { recursive: true });
  const file = join('.bench', `results-${result.date.slice(0, 19).replace(/:/g, '')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(
    `\nBenchmark, ${result.date.slice(0, 10)}, commit ${commit}, scale ${scale}, ${result.cpus} cores\n`,
  );
  console.log(table(rows));
  console.log(`\n(written to ${file})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

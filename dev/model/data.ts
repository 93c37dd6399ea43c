import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { parseDiamond } from './predict';
import type { Diamond } from './types';
import { mulberry32 } from '../random';

export { mulberry32 };

/** One labelled row: the raw record (for writing samples) and its validated 4Cs and price. */
export interface LabelledRow {
  record: Record<string, string>;
  diamond: Diamond;
  price: number;
}

/** Training reads the whole data set (48k rows, a few MB) at once; only the emulator has to stream. */
export function readLabelledCsv(path: string): { columns: string[]; rows: LabelledRow[] } {
  const records = parse(readFileSync(path), { bom: true, columns: true, skip_empty_lines: true }) as Record<
    string,
    string
  >[];
  const columns = records.length ? Object.keys(records[0]!) : [];
  const rows = records.map((record, i) => {
    const price = Number(record.price);
    if (!Number.isFinite(price) || price <= 0) throw new Error(`${path}: row ${i} has no positive price`);
    return { record, diamond: parseDiamond(record), price };
  });
  return { columns, rows };
}

/**
 * Seeded Fisher-Yates shuffle of the row indices; the first `trainFraction` go to training, the rest are
 * held out. `test` keeps the shuffled order (the sample file takes its first rows from it).
 */
export function splitIndices(
  n: number,
  seed: number,
  trainFraction: number,
): { train: number[]; test: number[] } {
  const idx = Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const cut = Math.floor(n * trainFraction);
  return { train: idx.slice(0, cut), test: idx.slice(cut) };
}

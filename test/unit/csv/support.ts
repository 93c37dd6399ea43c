import type { InputSchema } from '../../../src/domain/schema';
import { mulberry32 } from '../../../dev/random';

/** Small deterministic PRNG, so failures reproduce. */
export const rng = mulberry32;

export function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)] as T;
}

/** Splits buf into chunks of random sizes in [1, max] (copies, like a stream would hand out). */
export function randomChunks(buf: Buffer, r: () => number, max: number): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p < buf.length) {
    const n = 1 + Math.floor(r() * max);
    out.push(Buffer.from(buf.subarray(p, p + n)));
    p += n;
  }
  return out;
}

export function chunksOf(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < buf.length; p += size) out.push(Buffer.from(buf.subarray(p, p + size)));
  return out;
}

export async function* iterate(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

export const diamondsSchema: InputSchema = {
  name: 'diamonds-4c',
  columns: [
    { name: 'carat', type: 'number', required: true, min: 0, exclusiveMin: true },
    { name: 'cut', type: 'enum', required: true, values: ['Fair', 'Good', 'Very Good', 'Premium', 'Ideal'] },
    { name: 'color', type: 'enum', required: true, values: ['D', 'E', 'F', 'G', 'H', 'I', 'J'] },
    {
      name: 'clarity',
      type: 'enum',
      required: true,
      values: ['I1', 'SI2', 'SI1', 'VS2', 'VS1', 'VVS2', 'VVS1', 'IF'],
    },
  ],
};

export const DIAMONDS_HEADER = 'carat,cut,color,clarity,depth,table,price,x,y,z';

const CUTS = ['Fair', 'Good', 'Very Good', 'Premium', 'Ideal'];
const COLORS = ['D', 'E', 'F', 'G', 'H', 'I', 'J'];
const CLARITIES = ['I1', 'SI2', 'SI1', 'VS2', 'VS1', 'VVS2', 'VVS1', 'IF'];

/** A valid diamonds-like data line (no terminator). */
export function diamondLine(r: () => number): string {
  const carat = (0.2 + r() * 3).toFixed(2);
  return [
    carat,
    pick(r, CUTS),
    pick(r, COLORS),
    pick(r, CLARITIES),
    (55 + r() * 10).toFixed(1),
    String(50 + Math.floor(r() * 15)),
    String(300 + Math.floor(r() * 18000)),
    (3 + r() * 6).toFixed(2),
    (3 + r() * 6).toFixed(2),
    (2 + r() * 4).toFixed(2),
  ].join(',');
}

/** A diamonds CSV with `rows` data rows. */
export function diamondsCsv(rows: number, seed = 1, eol = '\n'): string {
  const r = rng(seed);
  const lines = [DIAMONDS_HEADER];
  for (let i = 0; i < rows; i++) lines.push(diamondLine(r));
  return lines.join(eol) + eol;
}

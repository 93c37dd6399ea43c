import { parse } from 'csv-parse/sync';

/**
 * The header record is parsed by csv-parse itself (it is one short record), so header parsing is
 * exactly the library's. `raw` is the header's bytes without its line terminator or a BOM.
 * Throws csv-parse's error for a malformed header.
 */
export function parseHeaderFields(raw: Buffer): string[] {
  const records = parse(raw, { relax_column_count: true }) as string[][];
  if (records.length !== 1 || records[0] === undefined) {
    throw new Error(`expected one header record, got ${records.length}`);
  }
  return records[0];
}

/** Header names as matched against the schema: surrounding whitespace removed. */
export function headerNames(fields: string[]): string[] {
  return fields.map((f) => f.trim());
}

/** The first duplicated non-empty name with the 1-based positions it appears at, if any. */
export function findDuplicate(names: string[]): { name: string; positions: number[] } | undefined {
  const seen = new Map<string, number[]>();
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (name === '') continue; // unnamed columns (e.g. a pandas index) may repeat
    const at = seen.get(name);
    if (at) at.push(i + 1);
    else seen.set(name, [i + 1]);
  }
  for (const [name, positions] of seen) if (positions.length > 1) return { name, positions };
  return undefined;
}

/** For a one-column header: the separator it seems to use instead of commas, if any. */
export function guessOtherSeparator(headerLine: string): 'tab' | 'semicolon' | 'pipe' | undefined {
  const count = (ch: string): number => headerLine.split(ch).length - 1;
  const candidates: ['tab' | 'semicolon' | 'pipe', number][] = [
    ['tab', count('\t')],
    ['semicolon', count(';')],
    ['pipe', count('|')],
  ];
  candidates.sort((a, b) => b[1] - a[1]);
  const best = candidates[0];
  return best && best[1] > 0 ? best[0] : undefined;
}

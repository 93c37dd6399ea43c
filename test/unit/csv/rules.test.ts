import { CsvScanner, type CsvRecord } from '../../../src/domain/csv';
import {
  checkField,
  compileChecks,
  parseNumberBytes,
  type CompiledCheck,
} from '../../../src/domain/csv/rules';
import type { ColumnRule } from '../../../src/domain/schema';
import { pick, rng } from './support';

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** checkField on the one record of a CSV line (inside the scanner's callback, where the record is valid). */
function checkLine(check: CompiledCheck, line: string): string | undefined {
  let result: string | undefined;
  let seen = 0;
  const s = new CsvScanner((rec: CsvRecord) => {
    seen++;
    result = checkField(check, rec);
  });
  s.push(Buffer.from(line));
  s.end();
  if (seen !== 1) throw new Error(`${seen} records`);
  return result;
}

describe('parseNumberBytes', () => {
  test('equals Number() on decimal text and NaN on anything else', () => {
    const r = rng(99);
    const alphabet = ['0', '1', '5', '9', '.', '-', '+', 'e', 'E', ' ', 'x', '0', '3', '7'];
    for (let t = 0; t < 20000; t++) {
      const len = 1 + Math.floor(r() * 22);
      let s = '';
      for (let i = 0; i < len; i++) s += pick(r, alphabet);
      const trimmed = s.replace(/^[ \t]+|[ \t]+$/g, '');
      const expected = DECIMAL.test(trimmed) ? Number(trimmed) : NaN;
      expect(parseNumberBytes(Buffer.from(s), 0, s.length, false)).toBe(expected);
      const int = /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : NaN;
      expect(parseNumberBytes(Buffer.from(s), 0, s.length, true)).toBe(int);
    }
  });

  test('the fast path is exact for up to 15 digits', () => {
    const r = rng(5);
    for (let t = 0; t < 20000; t++) {
      const digits = 1 + Math.floor(r() * 15);
      let s = '';
      for (let i = 0; i < digits; i++) s += String(Math.floor(r() * 10));
      const dot = Math.floor(r() * (digits + 1));
      s = `${s.slice(0, dot)}.${s.slice(dot)}`;
      expect(parseNumberBytes(Buffer.from(s), 0, s.length, false)).toBe(Number(s));
    }
  });
});

describe('enum checks', () => {
  test('membership is exact with many values (hash collisions)', () => {
    const r = rng(8);
    const values = new Set<string>();
    while (values.size < 500) {
      let v = '';
      const len = 1 + Math.floor(r() * 4);
      for (let i = 0; i < len; i++) v += pick(r, ['a', 'b', 'c', 'é', ' ', 'A']);
      values.add(v);
    }
    const list = [...values];
    const rule: ColumnRule = { name: 'e', type: 'enum', required: true, values: list };
    const [check] = compileChecks([rule], ['e']);
    for (const v of list) expect(checkLine(check!, `"${v}"\n`)).toBeUndefined();
    for (let t = 0; t < 2000; t++) {
      let v = '';
      const len = 1 + Math.floor(r() * 5);
      for (let i = 0; i < len; i++) v += pick(r, ['a', 'b', 'c', 'é', ' ', 'A', 'z']);
      const result = checkLine(check!, `"${v}"\n`);
      if (values.has(v)) expect(result).toBeUndefined();
      else expect(result).toMatch(/is not one of/);
    }
  });
});

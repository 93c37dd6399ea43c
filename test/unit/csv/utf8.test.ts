import { isUtf8 } from 'node:buffer';
import { firstInvalidUtf8, TextChecker } from '../../../src/domain/csv/utf8';
import { chunksOf, pick, randomChunks, rng } from './support';

/** Runs the checker over chunks; returns the absolute offset of the first fault, or -1. */
function firstFault(chunks: Buffer[]): { offset: number; kind?: string } {
  const c = new TextChecker();
  let base = 0;
  for (const chunk of chunks) {
    const f = c.check(chunk);
    if (f) return { offset: base + f.offset, kind: f.kind };
    base += chunk.length;
  }
  const f = c.end();
  return f ? { offset: base, kind: f.kind } : { offset: -1 };
}

const PIECES = [
  'a',
  '\n',
  'é',
  '日',
  '😀',
  [0xe9], // Latin-1 é
  [0xc0, 0xaf], // overlong
  [0xed, 0xa0, 0x80], // surrogate
  [0xf4, 0x90, 0x80, 0x80], // > U+10FFFF
  [0xe6, 0x97], // truncated 日
  [0x80], // lone continuation
  [0xff],
  [0x00],
];

function piece(p: string | number[]): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : Buffer.from(p);
}

describe('TextChecker', () => {
  test('agrees with isUtf8 and finds the first bad byte, whatever the chunking', () => {
    const r = rng(13);
    for (let t = 0; t < 3000; t++) {
      const n = Math.floor(r() * 12);
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++)
        parts.push(piece(r() < 0.85 ? pick(r, PIECES.slice(0, 5)) : pick(r, PIECES)));
      const whole = Buffer.concat(parts);
      const ref = firstInvalidUtf8(whole);
      const nul = whole.indexOf(0);
      expect(ref < 0).toBe(isUtf8(whole));
      const expected = ref < 0 ? nul : nul < 0 ? ref : Math.min(ref, nul);
      for (const chunks of [[whole], chunksOf(whole, 1), randomChunks(whole, r, 4)]) {
        const got = firstFault(chunks);
        if (expected < 0) expect(got.offset).toBe(-1);
        else {
          // A sequence that started in an earlier chunk is reported at the start of the next one.
          expect(got.offset).toBeGreaterThanOrEqual(Math.min(expected, whole.length));
          expect(got.offset).toBeLessThanOrEqual(expected + 3);
        }
      }
    }
  });

  test('a sequence split over chunks', () => {
    const c = new TextChecker();
    expect(c.check(Buffer.from([0x61, 0xf0]))).toBeUndefined();
    expect(c.check(Buffer.from([0x9f]))).toBeUndefined();
    expect(c.check(Buffer.from([0x98, 0x80, 0x62]))).toBeUndefined();
    expect(c.end()).toBeUndefined();
    const bad = new TextChecker();
    expect(bad.check(Buffer.from([0x61, 0xe6, 0x97]))).toBeUndefined();
    expect(bad.check(Buffer.from('x'))).toEqual({ offset: 0, kind: 'utf8', byte: 0xe6 });
    const cut = new TextChecker();
    expect(cut.check(Buffer.from([0xe6]))).toBeUndefined();
    expect(cut.end()).toMatchObject({ kind: 'utf8' });
  });
});

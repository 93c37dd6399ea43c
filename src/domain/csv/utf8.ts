import { isUtf8 } from 'node:buffer';

/**
 * Streaming text check: valid UTF-8 and no NUL bytes, chunk by chunk, without decoding.
 *
 * The bulk of each chunk is checked with Node's native `isUtf8` (SIMD) and `indexOf(0)`; only a
 * multi-byte sequence split across chunks is carried over (at most 3 bytes). The exact offset of a
 * bad byte is found with a JS decoder, which runs only once something is wrong.
 */
export class TextChecker {
  private tail: Buffer = Buffer.alloc(0);

  /**
   * Checks the next chunk. Returns undefined when it is fine, or where the first bad byte is
   * (offset in this chunk; 0 when the bad sequence started in the previous chunk) and why.
   */
  check(chunk: Buffer): TextFault | undefined {
    let start = 0;
    let fault: TextFault | undefined;
    if (this.tail.length > 0) {
      const need = seqLen(this.tail[0] as number) - this.tail.length;
      const take = Math.min(need, chunk.length);
      const joined = Buffer.concat([this.tail, chunk.subarray(0, take)]);
      if (take < need) {
        // Still incomplete: all we can check is that continuation bytes continue it.
        const bad = firstInvalidUtf8(joined, true);
        if (bad >= 0)
          fault = { offset: Math.max(0, bad - this.tail.length), kind: 'utf8', byte: joined[bad] };
        else this.tail = joined;
        return this.withNul(chunk, fault);
      }
      if (!isUtf8(joined)) {
        const bad = firstInvalidUtf8(joined, false);
        return this.withNul(chunk, {
          offset: Math.max(0, bad - this.tail.length),
          kind: 'utf8',
          byte: joined[Math.max(bad, 0)],
        });
      }
      start = take;
      this.tail = Buffer.alloc(0);
    }
    const cut = incompleteTailStart(chunk, start);
    if (!isUtf8(chunk.subarray(start, cut))) {
      const bad = start + firstInvalidUtf8(chunk.subarray(start, cut), false);
      fault = { offset: bad, kind: 'utf8', byte: chunk[bad] };
    } else if (cut < chunk.length) {
      this.tail = Buffer.from(chunk.subarray(cut));
    }
    return this.withNul(chunk, fault);
  }

  /** At the end of input: a multi-byte sequence cut off by the end is invalid. */
  end(): TextFault | undefined {
    if (this.tail.length === 0) return undefined;
    return { offset: 0, kind: 'utf8', byte: this.tail[0] };
  }

  private withNul(chunk: Buffer, fault: TextFault | undefined): TextFault | undefined {
    const nul = chunk.indexOf(0);
    if (nul >= 0 && (fault === undefined || nul < fault.offset)) return { offset: nul, kind: 'nul', byte: 0 };
    return fault;
  }
}

export interface TextFault {
  /** Offset of the offending byte in the chunk passed to `check`. */
  offset: number;
  kind: 'utf8' | 'nul';
  byte: number | undefined;
}

/** Length of the UTF-8 sequence a lead byte announces (1 for ASCII and for invalid leads). */
function seqLen(b: number): number {
  return b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
}

/** Start of a multi-byte sequence left incomplete at the end of buf (or buf.length). */
function incompleteTailStart(buf: Buffer, from: number): number {
  const len = buf.length;
  for (let k = 1; k <= 3 && len - k >= from; k++) {
    const b = buf[len - k] as number;
    if ((b & 0xc0) === 0x80) continue;
    return seqLen(b) > k ? len - k : len;
  }
  return len;
}

/**
 * Offset of the first byte that starts an invalid UTF-8 sequence, or -1. With `partialOk`, a
 * valid but unfinished sequence at the end is not an error.
 */
export function firstInvalidUtf8(buf: Uint8Array, partialOk = false): number {
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const b = buf[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) {
      need = 2;
      lo = 0xa0;
    } else if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) need = 2;
    else if (b === 0xed) {
      need = 2;
      hi = 0x9f;
    } else if (b === 0xf0) {
      need = 3;
      lo = 0x90;
    } else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else if (b === 0xf4) {
      need = 3;
      hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return partialOk ? -1 : i;
      const c = buf[i + k] as number;
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** A human hint for well-known binary formats and UTF-16, from the first bytes of a file. */
export function sniffBinary(head: Uint8Array): string | undefined {
  const b = (i: number): number => head[i] ?? -1;
  if (b(0) === 0xff && b(1) === 0xfe) return 'it looks UTF-16 (little-endian) encoded';
  if (b(0) === 0xfe && b(1) === 0xff) return 'it looks UTF-16 (big-endian) encoded';
  if (b(0) === 0x50 && b(1) === 0x4b && b(2) === 0x03 && b(3) === 0x04)
    return 'it looks like a ZIP or Excel (.xlsx) file';
  if (b(0) === 0xd0 && b(1) === 0xcf && b(2) === 0x11 && b(3) === 0xe0)
    return 'it looks like an old Excel (.xls) file';
  if (b(0) === 0x1f && b(1) === 0x8b) return 'it looks gzip-compressed';
  if (b(0) === 0x25 && b(1) === 0x50 && b(2) === 0x44 && b(3) === 0x46) return 'it looks like a PDF';
  if (b(0) === 0x50 && b(1) === 0x41 && b(2) === 0x52 && b(3) === 0x31) return 'it looks like a Parquet file';
  return undefined;
}

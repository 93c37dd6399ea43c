import { parse } from 'csv-parse/sync';
import { validateCsvStream, type PartWriter, type ValidationReport } from '../../../src/domain/csv';
import { PipelineError } from '../../../src/domain/errors';
import {
  chunksOf,
  DIAMONDS_HEADER,
  diamondsCsv,
  diamondsSchema,
  iterate,
  randomChunks,
  rng,
} from './support';

const H = DIAMONDS_HEADER;
const ROW = '0.23,Ideal,E,SI2,61.5,55,326,3.95,3.98,2.43';

/** A part writer that records what happens to it, awaiting a tick per write (like a stream). */
class Part implements PartWriter {
  chunks: Buffer[] = [];
  state: 'open' | 'ended' | 'aborted' = 'open';
  abortedWith: unknown;
  async write(chunk: Buffer): Promise<void> {
    expect(this.state).toBe('open');
    this.chunks.push(chunk);
    await new Promise<void>((r) => setImmediate(r));
  }
  async end(): Promise<void> {
    expect(this.state).toBe('open');
    this.state = 'ended';
  }
  async abort(err: unknown): Promise<void> {
    this.state = 'aborted';
    this.abortedWith = err;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

async function split(
  input: string | Buffer,
  rows: number,
  opts: { chunks?: Buffer[]; schema?: typeof diamondsSchema } = {},
): Promise<{ rep: ValidationReport; parts: Part[] }> {
  const buf = Buffer.from(input);
  const parts: Part[] = [];
  const rep = await validateCsvStream(iterate(opts.chunks ?? chunksOf(buf, 64 * 1024)), {
    schema: opts.schema ?? diamondsSchema,
    maxBytes: 1e9,
    maxProblems: 10,
    split: {
      rows,
      open: (index) => {
        expect(index).toBe(parts.length);
        const p = new Part();
        parts.push(p);
        return p;
      },
    },
  });
  return { rep, parts };
}

/** The header line's length in bytes, terminator included, as it appears in the input (after any BOM). */
function headerBytes(input: Buffer): number {
  const start = input[0] === 0xef ? 3 : 0;
  return input.indexOf(10, start) + 1 - start;
}

/** The parts joined back: part 0 whole, the others without their repeated header line. */
function rejoin(parts: Part[], header: number): Buffer {
  return Buffer.concat(parts.map((p, i) => (i === 0 ? p.bytes : p.bytes.subarray(header))));
}

// Byte-exactness over every chunking is a lot of small reads; a loaded CI machine needs more than 5 s.
jest.setTimeout(60_000);

describe('validateCsvStream with split', () => {
  test('parts of at most N rows, each with the header, concatenating back to the input (LF and CRLF, any chunking)', async () => {
    for (const eol of ['\n', '\r\n']) {
      const input = Buffer.from(diamondsCsv(1000, 3, eol));
      const hb = headerBytes(input);
      const r = rng(7);
      for (const chunks of [chunksOf(input, 7), chunksOf(input, 4096), randomChunks(input, r, 300)]) {
        const { rep, parts } = await split(input, 300, { chunks });
        expect(rep.ok).toBe(true);
        expect(parts.map((p) => p.state)).toEqual(['ended', 'ended', 'ended', 'ended']);
        expect(rep.parts.map((p) => p.rows)).toEqual([300, 300, 300, 100]);
        expect(rep.parts.map((p) => p.firstLine)).toEqual([2, 302, 602, 902]);
        expect(rep.parts.map((p) => p.bytes)).toEqual(parts.map((p) => p.bytes.length));
        for (const p of parts) {
          expect(p.bytes.subarray(0, hb).toString()).toBe(H + eol);
          expect(p.bytes.subarray(p.bytes.length - eol.length).toString()).toBe(eol);
        }
        expect(rejoin(parts, hb).equals(input)).toBe(true);
        // Each part is a CSV of the same columns on its own.
        expect(parse(parts[3]!.bytes, { columns: true })).toHaveLength(100);
      }
    }
  });

  test('exactly N rows is one part; N + 1 rows is two, the second with one row', async () => {
    const exact = Buffer.from(diamondsCsv(50));
    let res = await split(exact, 50);
    expect(res.parts).toHaveLength(1);
    expect(res.parts[0]!.bytes.equals(exact)).toBe(true);
    expect(res.rep.parts).toEqual([{ rows: 50, bytes: exact.length, firstLine: 2 }]);

    const more = Buffer.from(diamondsCsv(51));
    res = await split(more, 50);
    expect(res.rep.parts.map((p) => [p.rows, p.firstLine])).toEqual([
      [50, 2],
      [1, 52],
    ]);
    const last = more.subarray(more.lastIndexOf(10, more.length - 2) + 1);
    expect(res.parts[1]!.bytes.toString()).toBe(`${H}\n${last.toString()}`);
  });

  test('a small file is part 0, byte for byte; a last row without a line break stays without one', async () => {
    const input = `${H}\n${ROW}\n${ROW}`;
    const { rep, parts } = await split(input, 1000);
    expect(rep.parts).toEqual([{ rows: 2, bytes: input.length, firstLine: 2 }]);
    expect(parts[0]!.bytes.toString()).toBe(input);
    expect(parts[0]!.state).toBe('ended');
  });

  test('quoted fields with line breaks stay whole across a part boundary; firstLine counts physical lines', async () => {
    const rows = ['1,"a\nb"', '2,"c\r\nd"', '3,"e,""f""\n\ng"', '4,h', '5,"i\nj"'];
    const input = `id,note\n${rows.join('\n')}\n`;
    const schema = { name: 't', columns: [{ name: 'id', type: 'number' as const, required: true }] };
    for (const chunks of [chunksOf(Buffer.from(input), 1), chunksOf(Buffer.from(input), 5)]) {
      const { rep, parts } = await split(input, 2, { chunks, schema });
      expect(rep.ok).toBe(true);
      expect(parts.map((p) => p.bytes.toString())).toEqual([
        `id,note\n${rows[0]}\n${rows[1]}\n`,
        `id,note\n${rows[2]}\n${rows[3]}\n`,
        `id,note\n${rows[4]}\n`,
      ]);
      expect(rep.parts.map((p) => p.firstLine)).toEqual([2, 6, 10]);
      for (const p of parts)
        for (const rec of parse(p.bytes, { columns: true }) as { id: string }[])
          expect(rec.id).toMatch(/^\d$/);
    }
  });

  test('the BOM is only in part 0; blank lines stay where they are (line numbers kept), and firstLine is the input line', async () => {
    const input = `\ufeff\r\n \r\n${H}\r\n\r\n${ROW}\r\n  \r\n${ROW}\r\n\r\n${ROW}\r\n\r\n`;
    const { rep, parts } = await split(input, 2, { chunks: chunksOf(Buffer.from(input), 2) });
    expect(rep.ok).toBe(true);
    // Part 0 is a byte-exact prefix of the input, BOM and blank lines before the header included; the
    // blank line before row 3 ends part 0, so part 1's line 2 is input line 9.
    expect(parts.map((p) => p.bytes.toString())).toEqual([
      `\ufeff\r\n \r\n${H}\r\n\r\n${ROW}\r\n  \r\n${ROW}\r\n\r\n`,
      `${H}\r\n${ROW}\r\n\r\n`,
    ]);
    expect(rep.parts).toEqual([
      { rows: 2, bytes: Buffer.byteLength(parts[0]!.bytes), firstLine: 5 },
      { rows: 1, bytes: Buffer.byteLength(parts[1]!.bytes), firstLine: 9 },
    ]);
    // A file within one part is staged as part 0: the file itself.
    const small = `\n\n${H}\n${ROW}\n\n${ROW}`;
    const one = await split(small, 2, { chunks: chunksOf(Buffer.from(small), 1) });
    expect(one.parts.map((p) => p.bytes.toString())).toEqual([small]);
    expect(one.rep.parts).toEqual([{ rows: 2, bytes: small.length, firstLine: 4 }]);
  });

  test('a header whose line break differs from the blank lines before it is rejected (its parts would not parse)', async () => {
    for (const input of [`\n${H}\r\n${ROW}\r\n`, `\r\n${H}\n${ROW}\n${ROW}\n`]) {
      const { rep, parts } = await split(input, 1);
      expect(rep).toMatchObject({ ok: false, errorCode: 'InputNotCsv' });
      expect(rep.problems[0]).toMatchObject({ line: 2 });
      expect(rep.summary).toMatch(/^The header \(line 2\) has mixed line endings/);
      expect(parts.map((p) => p.state)).toEqual(['aborted']);
    }
  });

  test('an invalid file aborts every opened part and ends none', async () => {
    const good = diamondsCsv(250).trimEnd().split('\n');
    const cases = [
      [...good.slice(0, 240), '0.5,Ideal,E,XX,1,2,3,4,5,6', ...good.slice(240)].join('\n'), // a value late in the file
      [...good, '1,2'].join('\n'), // the last row has too few fields
      `${good.join('\n')}\n"unclosed,Ideal\n`, // broken CSV at the end
      `${good.join('\n')}\n\u0000`, // not text
    ];
    for (const input of cases) {
      const { rep, parts } = await split(input, 100, { chunks: chunksOf(Buffer.from(input), 1000) });
      expect(rep.ok).toBe(false);
      expect(parts.length).toBeGreaterThanOrEqual(2);
      for (const p of parts) {
        expect(p.state).toBe('aborted');
        expect(p.abortedWith).toBeInstanceOf(PipelineError);
        expect((p.abortedWith as PipelineError).code).toBe(rep.errorCode);
      }
    }
    // A header-only file: part 0 was opened at the header, and is aborted.
    const { rep, parts } = await split(`${H}\n`, 10);
    expect(rep.errorCode).toBe('InputHeaderOnly');
    expect(parts.map((p) => p.state)).toEqual(['aborted']);
    // Missing columns: no part is opened at all.
    expect((await split('a,b\n1,2\n', 10)).parts).toEqual([]);
  });

  test('a failing write or read rejects and aborts every opened part', async () => {
    const input = Buffer.from(diamondsCsv(300));
    const parts: Part[] = [];
    const boom = new Error('upload failed');
    await expect(
      validateCsvStream(iterate(chunksOf(input, 1000)), {
        schema: diamondsSchema,
        maxBytes: 1e9,
        maxProblems: 10,
        split: {
          rows: 100,
          open: (index) => {
            const p = new Part();
            if (index === 2) p.write = () => Promise.reject(boom);
            parts.push(p);
            return p;
          },
        },
      }),
    ).rejects.toBe(boom);
    expect(parts.map((p) => p.state)).toEqual(['aborted', 'aborted', 'aborted']);

    async function* failing(): AsyncGenerator<Buffer> {
      yield input.subarray(0, 20000);
      throw new Error('download failed');
    }
    const opened: Part[] = [];
    await expect(
      validateCsvStream(failing(), {
        schema: diamondsSchema,
        maxBytes: 1e9,
        maxProblems: 10,
        split: { rows: 100, open: () => (opened.push(new Part()), opened[opened.length - 1]!) },
      }),
    ).rejects.toThrow('download failed');
    expect(opened.length).toBeGreaterThan(0);
    expect(opened.every((p) => p.state === 'aborted')).toBe(true);
  });

  test('backpressure: the next chunk is read only after the writes of the last one are done', async () => {
    const input = Buffer.from(diamondsCsv(2000));
    let pending = 0;
    let reads = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (const c of chunksOf(input, 8192)) {
        expect(pending).toBe(0);
        reads++;
        yield c;
      }
    }
    const written: Buffer[] = [];
    const rep = await validateCsvStream(source(), {
      schema: diamondsSchema,
      maxBytes: 1e9,
      maxProblems: 10,
      split: {
        rows: 700,
        open: () => ({
          write: async (c) => {
            pending++;
            written.push(c);
            await new Promise<void>((r) => setImmediate(r));
            pending--;
          },
          end: async () => undefined,
          abort: async () => undefined,
        }),
      },
    });
    expect(rep.ok).toBe(true);
    expect(reads).toBe(Math.ceil(input.length / 8192));
    // A chunk costs a few writes (one per part it touches), not one per record.
    expect(written.length).toBeLessThan(2 * reads + 6);
  });

  test('rejects a non-positive row count', async () => {
    await expect(split(diamondsCsv(3), 0)).rejects.toThrow(RangeError);
  });
});

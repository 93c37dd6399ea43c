import { parse } from 'csv-parse/sync';
import { CsvScanError, CsvScanner, type CsvRecord } from '../../../src/domain/csv';
import { chunksOf, pick, randomChunks, rng } from './support';

interface Outcome {
  records: string[][];
  error?: string;
}

/**
 * csv-parse with default options, except: BOM removal on and field counts not enforced. Where
 * csv-parse takes a lone CR as the record delimiter (its first record ends with a CR that is not
 * part of a CRLF), the scanner refuses the file instead: no records, CSV_CR_LINE_ENDINGS.
 */
function reference(input: Buffer): Outcome {
  const records: string[][] = [];
  const raws: string[] = [];
  try {
    parse(input, {
      bom: true,
      raw: true,
      relax_column_count: true,
      // With `raw`, csv-parse hands on_record `{record, raw}` (its typings say string[]).
      on_record: (r: unknown) => {
        const { record, raw } = r as { record: string[]; raw: string };
        records.push(record);
        raws.push(raw);
        return record;
      },
    });
  } catch (err) {
    if (crDelimited(input, raws)) return { records: [], error: 'CSV_CR_LINE_ENDINGS' };
    return { records, error: (err as { code?: string }).code ?? String(err) };
  }
  if (crDelimited(input, raws)) return { records: [], error: 'CSV_CR_LINE_ENDINGS' };
  return { records };
}

/** Whether csv-parse's first record ended with a lone CR (its `raw` holds the CR of a CRLF too). */
function crDelimited(input: Buffer, raws: string[]): boolean {
  const first = raws[0];
  if (first === undefined || !first.endsWith('\r')) return false;
  const bom = input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf ? 3 : 0;
  return input[bom + Buffer.byteLength(first)] !== 10;
}

interface Scanned extends Outcome {
  raws: Buffer[];
  lines: number[];
  endLines: number[];
  hasBom: boolean;
  lineEnding: string | undefined;
}

function scan(chunks: Buffer[], maxRecordBytes?: number): Scanned {
  const out: Scanned = {
    records: [],
    raws: [],
    lines: [],
    endLines: [],
    hasBom: false,
    lineEnding: undefined,
  };
  const s = new CsvScanner(
    (rec: CsvRecord) => {
      out.records.push(rec.fields());
      out.raws.push(Buffer.from(rec.raw()));
      out.lines.push(rec.line);
      out.endLines.push(rec.endLine);
    },
    maxRecordBytes === undefined ? {} : { maxRecordBytes },
  );
  try {
    for (const c of chunks) s.push(c);
    s.end();
  } catch (err) {
    if (!(err instanceof CsvScanError)) throw err;
    out.error = err.code;
  }
  out.hasBom = s.hasBom;
  out.lineEnding = s.lineEnding;
  return out;
}

/** Physical line of each record start, from the raw bytes: 1 + the LFs before it. */
function expectedLines(raws: Buffer[], bomLen: number, input: Buffer): number[] {
  const lines: number[] = [];
  let off = bomLen;
  for (const raw of raws) {
    let line = 1;
    for (let i = 0; i < off; i++) if (input[i] === 10) line++;
    lines.push(line);
    off += raw.length;
  }
  return lines;
}

function quoteField(v: string): string {
  return `"${v.replace(/"/g, '""')}"`;
}

/** A random, mostly well-formed CSV document. */
function randomCsv(r: () => number): string {
  const eol = pick(r, ['\n', '\r\n']);
  const cols = 1 + Math.floor(r() * 5);
  const rows = Math.floor(r() * 8);
  const plainAlphabet = ['a', 'b', 'Z', '0', '9', ' ', 'é', '日', '.', '-', "'", '\t'];
  const quotedAlphabet = ['a', ',', '"', '\n', '\r\n', ' ', 'é', '""', '\r', ';'];
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    if (r() < 0.05) {
      lines.push(''); // an empty line
      continue;
    }
    const n = r() < 0.9 ? cols : 1 + Math.floor(r() * 6);
    const fields: string[] = [];
    for (let j = 0; j < n; j++) {
      const kind = r();
      const len = Math.floor(r() * 6);
      let v = '';
      if (kind < 0.15) v = '';
      else if (kind < 0.6) for (let k = 0; k < len; k++) v += pick(r, plainAlphabet);
      else {
        for (let k = 0; k < len; k++) v += pick(r, quotedAlphabet);
        v = quoteField(v);
      }
      fields.push(v);
    }
    lines.push(fields.join(','));
  }
  let doc = lines.join(eol);
  if (r() < 0.6) doc += eol;
  if (r() < 0.1) doc += eol;
  return (r() < 0.2 ? '\ufeff' : '') + doc;
}

/** Random bytes from CSV's special characters: mostly malformed, exercises every edge. */
function soup(r: () => number): string {
  const alphabet = ['a', ',', '"', '\n', '\r', ' ', 'é', '""', '\r\n', 'b'];
  const len = Math.floor(r() * 30);
  let s = r() < 0.1 ? '\ufeff' : '';
  for (let i = 0; i < len; i++) s += pick(r, alphabet);
  return s;
}

function checkAgainstReference(input: Buffer, r: () => number): void {
  const ref = reference(input);
  const chunkings = [[input], chunksOf(input, 1), randomChunks(input, r, 7), randomChunks(input, r, 64)];
  for (const chunks of chunkings) {
    const got = scan(chunks);
    try {
      expect({ records: got.records, error: got.error }).toEqual({ records: ref.records, error: ref.error });
    } catch (err) {
      throw new Error(
        `input ${JSON.stringify(input.toString())} in ${chunks.length} chunks: ${(err as Error).message}`,
      );
    }
    if (got.error === undefined) {
      // The raw bytes of the records are exactly the input, BOM aside.
      const bomLen = got.hasBom ? 3 : 0;
      expect(Buffer.concat(got.raws).equals(input.subarray(bomLen))).toBe(true);
      expect(got.lines).toEqual(expectedLines(got.raws, bomLen, input));
    }
  }
}

describe('CsvScanner vs csv-parse (differential)', () => {
  test('random well-formed documents, random chunkings', () => {
    const r = rng(42);
    for (let t = 0; t < 1500; t++) checkAgainstReference(Buffer.from(randomCsv(r)), r);
  });

  test('random byte soup of CSV special characters (errors included)', () => {
    const r = rng(7);
    let errors = 0;
    let crOnly = 0;
    for (let t = 0; t < 4000; t++) {
      const input = Buffer.from(soup(r));
      checkAgainstReference(input, r);
      const error = reference(input).error;
      if (error) errors++;
      if (error === 'CSV_CR_LINE_ENDINGS') crOnly++;
    }
    expect(errors).toBeGreaterThan(500); // the soup does exercise the error paths
    expect(crOnly).toBeGreaterThan(100); // lone CRs first included
  });

  test.each([
    ['quoted comma, quote and newlines', 'a,b\n"x,1","he said ""hi"""\n"multi\nline",\n'],
    ['CRLF with quoted CRLF', 'a,b\r\n"1\r\n2",3\r\n4,5\r\n'],
    ['LF file with a CR inside a field', 'a,b\nx\ry,2\n'],
    ['CRLF file with a bare LF', 'a,b\r\nx\ny,2\r\n'],
    ['CR-only file', 'a,b\r1,2\r3,4'],
    ['a lone CR first, then LFs', 'a\rb,c\n1,2\n'],
    ['a quoted field closed before a lone CR', '"a"\r1\n'],
    ['a lone CR at the very end', 'a,b\r'],
    ['CRLF file with a lone CR, also at the end', 'a,b\r\nx\ry,2\r\n3,4\r'],
    ['empty lines in the middle and at the end', 'a,b\n\n1,2\n\n\n'],
    ['only newlines', '\n\n\n'],
    ['BOM and quoted header', '\ufeff"a","b"\n1,2\n'],
    ['empty quoted fields', '"",""\n"",\n,""'],
    ['no trailing newline', 'a,b\n1,2'],
    ['closing quote at EOF', 'a\n"x"'],
    ['escaped quote then EOF', 'a\n"x"""'],
    ['whitespace around fields', ' a , b \n 1 , 2 \n'],
    ['unicode', 'ключ,值\n"日本,語",é\n'],
    ['quote not closed', 'a,b\n"open,2\n3,4\n'],
    ['quote inside unquoted field', 'a,b\nx"y,2\n'],
    ['garbage after closing quote', 'a,b\n"x"y,2\n'],
    ['CR after closing quote in an LF file', 'a,b\n"x"\r\n'],
  ])('%s', (_name, text) => {
    const input = Buffer.from(text);
    const r = rng(3);
    checkAgainstReference(input, r);
    // Every split point in two chunks.
    const ref = reference(input);
    for (let cut = 1; cut < input.length; cut++) {
      const got = scan([input.subarray(0, cut), input.subarray(cut)]);
      expect({ records: got.records, error: got.error }).toEqual({ records: ref.records, error: ref.error });
    }
  });
});

describe('CsvScanner details', () => {
  test('field access: quoted, escaped, raw and content bytes, lines', () => {
    const input = Buffer.from('h1,h2\r\n"a ""q"", b","x\r\ny"\r\nplain,\r\n');
    const seen: {
      fields: string[];
      quoted: boolean[];
      escaped: boolean[];
      raw: string;
      content: string;
      line: number;
      endLine: number;
    }[] = [];
    const s = new CsvScanner((rec) => {
      seen.push({
        fields: rec.fields(),
        quoted: [0, 1].map((i) => rec.isQuoted(i)),
        escaped: [0, 1].map((i) => rec.hasEscapes(i)),
        raw: rec.raw().toString(),
        content: rec.content().toString(),
        line: rec.line,
        endLine: rec.endLine,
      });
    });
    for (const c of chunksOf(input, 1)) s.push(c);
    s.end();
    expect(s.lineEnding).toBe('CRLF');
    expect(seen).toEqual([
      {
        fields: ['h1', 'h2'],
        quoted: [false, false],
        escaped: [false, false],
        raw: 'h1,h2\r\n',
        content: 'h1,h2',
        line: 1,
        endLine: 1,
      },
      {
        fields: ['a "q", b', 'x\r\ny'],
        quoted: [true, true],
        escaped: [true, false],
        raw: '"a ""q"", b","x\r\ny"\r\n',
        content: '"a ""q"", b","x\r\ny"',
        line: 2,
        endLine: 3,
      },
      {
        fields: ['plain', ''],
        quoted: [false, false],
        escaped: [false, false],
        raw: 'plain,\r\n',
        content: 'plain,',
        line: 4,
        endLine: 4,
      },
    ]);
  });

  test('field offsets (from the record start): plain fields next to quoted ones, last fields, CRLF, end of input', () => {
    const input = Buffer.from('ab,"c""d",,"",e\r\n"x",y\r\nz,"w"');
    const seen: [number, number, boolean, boolean][][] = [];
    const s = new CsvScanner((rec) => {
      const fields: [number, number, boolean, boolean][] = [];
      for (let i = 0; i < rec.fieldCount; i++)
        fields.push([
          rec.fieldStart(i) - rec.start,
          rec.fieldEnd(i) - rec.start,
          rec.isQuoted(i),
          rec.hasEscapes(i),
        ]);
      seen.push(fields);
    });
    s.push(input);
    s.end();
    expect(seen).toEqual([
      [
        [0, 2, false, false],
        [4, 8, true, true],
        [10, 10, false, false],
        [12, 12, true, false],
        [14, 15, false, false],
      ],
      [
        [1, 2, true, false],
        [4, 5, false, false],
      ],
      [
        [0, 1, false, false],
        [3, 4, true, false],
      ],
    ]);
  });

  test('a BOM split over 1-byte chunks is removed; a partial BOM is data', () => {
    const withBom = scan(chunksOf(Buffer.from('\ufeffa,b\n1,2\n'), 1));
    expect(withBom.hasBom).toBe(true);
    expect(withBom.records).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
    const partial = scan(chunksOf(Buffer.from([0xef, 0xbb, 0x41, 0x0a]), 1));
    expect(partial.hasBom).toBe(false);
    expect(Buffer.concat(partial.raws)).toEqual(Buffer.from([0xef, 0xbb, 0x41, 0x0a]));
    const onlyBom = scan([Buffer.from([0xef, 0xbb, 0xbf])]);
    expect(onlyBom).toMatchObject({ hasBom: true, records: [] });
  });

  test('errors carry csv-parse codes and physical lines', () => {
    const err = (text: string): CsvScanError => {
      const s = new CsvScanner(() => undefined);
      try {
        s.push(Buffer.from(text));
        s.end();
      } catch (e) {
        return e as CsvScanError;
      }
      throw new Error('no error');
    };
    expect(err('a,b\n1,2\n"open,\n\n')).toMatchObject({ code: 'CSV_QUOTE_NOT_CLOSED', line: 3 });
    expect(err('a,b\n1,2\n3,x"y\n')).toMatchObject({
      code: 'INVALID_OPENING_QUOTE',
      line: 3,
      recordIndex: 2,
    });
    expect(err('a,b\n"1\n2"x,2\n')).toMatchObject({ code: 'CSV_INVALID_CLOSING_QUOTE', line: 3 });
  });

  test('a record longer than maxRecordBytes fails early, without buffering the whole input', () => {
    const s = new CsvScanner(() => undefined, { maxRecordBytes: 1024 * 1024 });
    const junk = Buffer.alloc(64 * 1024, 'x');
    let pushed = 0;
    expect(() => {
      for (let i = 0; i < 1000; i++) {
        s.push(junk);
        pushed += junk.length;
      }
    }).toThrow(expect.objectContaining({ code: 'CSV_MAX_RECORD_SIZE', line: 1 }));
    expect(pushed).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
    // A long record inside one chunk is caught when it ends.
    const big = new CsvScanner(() => undefined, { maxRecordBytes: 10 });
    expect(() => big.push(Buffer.from('a,b\n0123456789,1\n'))).toThrow(
      expect.objectContaining({ code: 'CSV_MAX_RECORD_SIZE', line: 2 }),
    );
  });

  test('records spanning many chunks and long quoted fields', () => {
    const r = rng(11);
    const longField = 'x'.repeat(50_000) + '\n' + '"'.repeat(10) + ',' + 'y'.repeat(20_000);
    const text = `a,b\n${quoteField(longField)},2\n3,4\n`;
    const input = Buffer.from(text);
    const expected = [
      ['a', 'b'],
      [longField, '2'],
      ['3', '4'],
    ];
    for (const chunks of [randomChunks(input, r, 100), randomChunks(input, r, 5000), chunksOf(input, 1)]) {
      const got = scan(chunks);
      expect(got.records).toEqual(expected);
      expect(got.lines).toEqual([1, 2, 4]);
    }
  });

  test('currentLine counts the pending partial record', () => {
    const s = new CsvScanner(() => undefined);
    s.push(Buffer.from('a,b\n1,"x\ny\nz'));
    expect(s.currentLine()).toBe(4);
  });
});

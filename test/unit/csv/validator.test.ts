import { Readable } from 'node:stream';
import { validateCsvStream, type ValidationReport } from '../../../src/domain/csv';
import type { InputSchema } from '../../../src/domain/schema';
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

async function validate(
  input: string | Buffer,
  opts: { chunk?: number; maxBytes?: number; maxProblems?: number; schema?: InputSchema } = {},
): Promise<ValidationReport> {
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  return validateCsvStream(iterate(chunksOf(buf, opts.chunk ?? 64 * 1024)), {
    schema: opts.schema ?? diamondsSchema,
    maxBytes: opts.maxBytes ?? 1e9,
    maxProblems: opts.maxProblems ?? 100,
  });
}

describe('valid files', () => {
  test('a diamonds file passes, in any chunking', async () => {
    const text = diamondsCsv(500);
    for (const chunk of [1, 7, 4096, 1 << 20]) {
      const rep = await validate(text, { chunk });
      expect(rep).toEqual({
        ok: true,
        rows: 500,
        bytes: Buffer.byteLength(text),
        columns: H.split(','),
        hasBom: false,
        lineEnding: 'LF',
        problems: [],
        problemCount: 0,
        summary: 'Valid: 500 rows, 10 columns',
        parts: [],
      });
    }
  });

  test('BOM and CRLF are reported; quoted values are unquoted before checks', async () => {
    const text = `\ufeff${H}\r\n"0.5","Very Good",E,"SI1",1,2,3,4,5,6\r\n${ROW}\r\n`;
    const rep = await validate(text, { chunk: 3 });
    expect(rep).toMatchObject({ ok: true, rows: 2, hasBom: true, lineEnding: 'CRLF', columns: H.split(',') });
  });

  test('header names are trimmed; other columns pass through in any order', async () => {
    const rep = await validate(' clarity , extra,carat ,cut,color\nSI2,whatever,1.5,Good,D\n');
    expect(rep).toMatchObject({ ok: true, rows: 1, columns: ['clarity', 'extra', 'carat', 'cut', 'color'] });
  });

  test('blank lines (empty or spaces, tabs, CRs) are skipped and not counted, anywhere', async () => {
    const rep = await validate(`\n${H}\n\n${ROW}\n   \n\t\n\r\n${ROW}\n\n\n`);
    expect(rep).toMatchObject({ ok: true, rows: 2 });
  });

  test('a file without a final newline', async () => {
    expect(await validate(`${H}\n${ROW}`)).toMatchObject({ ok: true, rows: 1, lineEnding: 'LF' });
  });

  test('numbers: decimals, exponents, signs and surrounding spaces', async () => {
    const values = ['1', '0.5', '.5', '5.', '1e2', '1E-2', '+3', ' 2.5 ', '"7"', '0.0000000000000000001'];
    const text = `${H}\n${values.map((v) => `${v},Good,E,SI2,1,2,3,4,5,6`).join('\n')}\n`;
    expect(await validate(text)).toMatchObject({ ok: true, rows: values.length });
  });

  test('accepts a Node readable stream and reports progress', async () => {
    const text = diamondsCsv(2000);
    const progress: [number, number][] = [];
    const rep = await validateCsvStream(Readable.from(chunksOf(Buffer.from(text), 1000)), {
      schema: diamondsSchema,
      maxBytes: 1e9,
      maxProblems: 10,
      onProgress: (rows, bytes) => progress.push([rows, bytes]),
    });
    expect(rep).toMatchObject({ ok: true, rows: 2000 });
    expect(progress.length).toBeGreaterThan(10);
    expect(progress[progress.length - 1]).toEqual([2000, Buffer.byteLength(text)]);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
      expect(progress[i]![1]).toBeGreaterThan(progress[i - 1]![1]);
    }
  });
});

describe('empty and header-only', () => {
  test.each([
    ['0 bytes', '', 'The file is empty (0 bytes)'],
    ['only a BOM', '\ufeff', 'The file has no content: only blank lines, whitespace or a byte order mark'],
    [
      'only whitespace and newlines',
      ' \n\n\t \r\n',
      'The file has no content: only blank lines, whitespace or a byte order mark',
    ],
  ])('%s -> InputEmpty', async (_name, text, summary) => {
    const rep = await validate(text, { chunk: 1 });
    expect(rep).toMatchObject({ ok: false, errorCode: 'InputEmpty', rows: 0, columns: [], summary });
  });

  test.each([
    ['with newline', `${H}\n`],
    ['without newline', H],
    ['followed by blank lines', `${H}\r\n\r\n  \r\n`],
  ])('header only %s -> InputHeaderOnly', async (_name, text) => {
    const rep = await validate(text);
    expect(rep).toMatchObject({
      ok: false,
      errorCode: 'InputHeaderOnly',
      rows: 0,
      columns: H.split(','),
      summary: 'The file has a header but no data rows',
    });
  });
});

describe('InputTooLarge', () => {
  test('stops reading as soon as the limit is passed', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield Buffer.from(`${H}\n`);
      for (;;) {
        pulled++;
        yield Buffer.from(`${ROW}\n`.repeat(100));
      }
    }
    const rep = await validateCsvStream(endless(), {
      schema: diamondsSchema,
      maxBytes: 100_000,
      maxProblems: 5,
    });
    expect(rep.errorCode).toBe('InputTooLarge');
    expect(rep.ok).toBe(false);
    expect(rep.summary).toBe(
      'The file is larger than the limit of 100000 bytes (97.7 KiB); split it into smaller files',
    );
    expect(rep.bytes).toBeGreaterThan(100_000);
    expect(rep.bytes).toBeLessThan(100_000 + 4400);
    expect(pulled).toBeLessThan(30);
    expect(rep.problems).toEqual([{ line: expect.any(Number), code: 'InputTooLarge', message: rep.summary }]);
  });

  test('a stream is destroyed when reading stops early', async () => {
    const stream = Readable.from(chunksOf(Buffer.from(diamondsCsv(5000)), 1024));
    const rep = await validateCsvStream(stream, { schema: diamondsSchema, maxBytes: 10_000, maxProblems: 5 });
    expect(rep.errorCode).toBe('InputTooLarge');
    expect(stream.destroyed).toBe(true);
  });

  test('exactly at the limit is fine', async () => {
    const text = diamondsCsv(10);
    expect(await validate(text, { maxBytes: Buffer.byteLength(text), chunk: 5 })).toMatchObject({ ok: true });
  });
});

describe('InputNotText', () => {
  test('a NUL byte, with its line', async () => {
    const text = Buffer.from(`${H}\n${ROW}\n0.3,Good,E\0,SI2,1,2,3,4,5,6\n${ROW}\n`);
    for (const chunk of [1, 5, 1000]) {
      const rep = await validate(text, { chunk });
      expect(rep).toMatchObject({ ok: false, errorCode: 'InputNotText', problemCount: 1 });
      expect(rep.problems[0]).toMatchObject({ line: 3, code: 'InputNotText' });
      expect(rep.summary).toBe(
        'The file is not text: it contains a NUL byte at line 3, so it looks like binary data',
      );
    }
  });

  test('a Latin-1 byte (invalid UTF-8), with its line and a hint', async () => {
    const text = Buffer.concat([
      Buffer.from(`${H}\n${ROW}\n${ROW}\n0.3,Good,E,SI2,1,2,3,4,5,caf`),
      Buffer.from([0xe9]),
      Buffer.from('\n'),
    ]);
    const rep = await validate(text, { chunk: 10 });
    expect(rep).toMatchObject({ errorCode: 'InputNotText' });
    expect(rep.problems[0]!.line).toBe(4);
    expect(rep.summary).toBe(
      'The file is not text: it is not valid UTF-8: byte 0xE9 at line 4 (save it as UTF-8; it may be in another encoding such as Windows-1252)',
    );
  });

  test('valid multi-byte characters split over chunks pass; invalid ones split over chunks fail', async () => {
    const schema: InputSchema = { name: 's', columns: [{ name: 'name', type: 'string', required: true }] };
    const good = Buffer.from('name\n日本語 😀 é\nÅngström\n');
    for (let chunk = 1; chunk <= 5; chunk++) {
      expect(await validate(good, { chunk, schema })).toMatchObject({ ok: true, rows: 2 });
    }
    // E6 97 A5 is 日; cut after E6 97 and continue with an ASCII byte: invalid across the boundary.
    const bad = Buffer.concat([Buffer.from('name\nok\n'), Buffer.from([0xe6, 0x97]), Buffer.from('x\n')]);
    for (let chunk = 1; chunk <= 12; chunk++) {
      const rep = await validate(bad, { chunk, schema });
      expect(rep).toMatchObject({ errorCode: 'InputNotText' });
      expect(rep.problems[0]!.line).toBe(3);
    }
    // A sequence cut off by the end of the file.
    const truncated = Buffer.concat([Buffer.from('name\nok\n'), Buffer.from([0xf0, 0x9f, 0x98])]);
    expect(await validate(truncated, { chunk: 1, schema })).toMatchObject({ errorCode: 'InputNotText' });
    // Overlong encodings and surrogates are invalid.
    for (const seq of [
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
    ]) {
      const b = Buffer.concat([Buffer.from('name\n'), Buffer.from(seq), Buffer.from('\n')]);
      expect(await validate(b, { chunk: 1, schema })).toMatchObject({ errorCode: 'InputNotText' });
    }
  });

  test('binary junk, UTF-16 and zip files', async () => {
    const r = rng(5);
    const junk = Buffer.alloc(100_000);
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(r() * 256);
    expect(await validate(junk)).toMatchObject({ ok: false, errorCode: 'InputNotText' });

    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${H}\n${ROW}\n`, 'utf16le')]);
    const rep16 = await validate(utf16, { chunk: 1 });
    expect(rep16.errorCode).toBe('InputNotText');
    expect(rep16.summary).toContain('UTF-16');

    const zip = Buffer.concat([
      Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00]),
      junk.subarray(0, 1000),
    ]);
    const repZip = await validate(zip);
    expect(repZip.errorCode).toBe('InputNotText');
    expect(repZip.summary).toContain('Excel (.xlsx)');
  });
});

describe('InputNotCsv', () => {
  test('a tab-separated file says so', async () => {
    const rep = await validate(`${H.replace(/,/g, '\t')}\n${ROW.replace(/,/g, '\t')}\n`);
    expect(rep).toMatchObject({
      ok: false,
      errorCode: 'InputNotCsv',
      summary:
        'The file looks tab-separated: the header has no commas but has tabs; save it as comma-separated CSV',
    });
    expect(rep.problems[0]).toMatchObject({ line: 1, code: 'InputNotCsv' });
  });

  test('a semicolon-separated file says so', async () => {
    const rep = await validate(`${H.replace(/,/g, ';')}\n${ROW.replace(/,/g, ';')}\n`);
    expect(rep.errorCode).toBe('InputNotCsv');
    expect(rep.summary).toContain('looks semicolon-separated');
  });

  test('an unterminated quote, with the line where it opens', async () => {
    const rep = await validate(`${H}\n${ROW}\n"0.3,Good,E,SI2,1,2,3,4,5,6\n${ROW}\n`, { chunk: 4 });
    expect(rep).toMatchObject({ errorCode: 'InputNotCsv', rows: 1 });
    expect(rep.problems).toEqual([
      {
        line: 3,
        code: 'InputNotCsv',
        message: 'The file is not valid CSV: a quoted field starting at line 3 is never closed',
      },
    ]);
  });

  test('a quote inside an unquoted field', async () => {
    const rep = await validate(`${H}\n${ROW}\n${ROW}\n0.3,Go"od,E,SI2,1,2,3,4,5,6\n`);
    expect(rep.errorCode).toBe('InputNotCsv');
    expect(rep.problems[0]!.line).toBe(4);
    expect(rep.summary).toContain('a quote inside an unquoted field at line 4');
  });

  test('rows with a different number of fields are all counted, with lines', async () => {
    const text = `${H}\n${ROW}\n0.3,Good\n${ROW}\n${ROW},extra\n"multi\nline",x\n${ROW}\n`;
    const rep = await validate(text, { maxProblems: 2 });
    expect(rep).toMatchObject({ ok: false, errorCode: 'InputNotCsv', rows: 6, problemCount: 3 });
    expect(rep.problems).toEqual([
      { line: 3, row: 2, code: 'InputNotCsv', message: '2 fields, but the header has 10' },
      { line: 5, row: 4, code: 'InputNotCsv', message: '11 fields, but the header has 10' },
    ]);
    expect(rep.summary).toBe(
      '3 rows do not match the CSV structure; first at line 3: 2 fields, but the header has 10',
    );
  });

  test('duplicate header names', async () => {
    const rep = await validate(`carat,cut,color,clarity,cut\n${'1,Good,E,SI2,Good'}\n`);
    expect(rep).toMatchObject({
      errorCode: 'InputNotCsv',
      summary: 'Duplicate column name in the header: "cut" (columns 2 and 5)',
    });
  });

  test('CR-only line endings', async () => {
    const rep = await validate(`${H}\r${ROW}\r`);
    expect(rep.errorCode).toBe('InputNotCsv');
    expect(rep.summary).toContain('CR-only');
    // A lone CR as the first line break decides it, whatever follows; one split across chunks too.
    for (const chunk of [1, 64 * 1024]) {
      const first = await validate(`${H}\r${ROW}\n${ROW}\n`, { chunk });
      expect(first).toMatchObject({ errorCode: 'InputNotCsv', problemCount: 1, rows: 0 });
      expect(first.problems[0]).toMatchObject({ line: 1 });
      expect(first.summary).toBe(
        'The file uses CR-only line endings (classic Mac); save it with LF or CRLF line endings',
      );
    }
  });

  test('mixed line endings', async () => {
    const rep = await validate(`${H}\n${ROW}\n${ROW}\r\n${ROW}\n`);
    expect(rep).toMatchObject({ errorCode: 'InputNotCsv', problemCount: 1 });
    expect(rep.problems[0]).toMatchObject({ line: 3, row: 2 });
    expect(rep.problems[0]!.message).toContain('mixed line endings');
  });

  test('a line longer than the record limit (junk without line breaks)', async () => {
    const junk = Buffer.alloc(300_000, 'a');
    const rep = await validateCsvStream(iterate(chunksOf(junk, 1000)), {
      schema: diamondsSchema,
      maxBytes: 1e9,
      maxProblems: 5,
      maxRecordBytes: 100_000,
    });
    expect(rep.errorCode).toBe('InputNotCsv');
    expect(rep.bytes).toBeLessThanOrEqual(101_000);
    expect(rep.summary).toContain('longer than 97.7 KiB');
  });
});

describe('InputMissingColumns', () => {
  test('names the missing columns and lists what was found', async () => {
    const rep = await validate('cut,color,clarity,price\nGood,E,SI2,1\n');
    expect(rep).toMatchObject({
      ok: false,
      errorCode: 'InputMissingColumns',
      columns: ['cut', 'color', 'clarity', 'price'],
      summary: 'Missing required columns: carat (found: cut,color,clarity,price)',
    });
    expect(rep.problems).toEqual([{ line: 1, code: 'InputMissingColumns', message: rep.summary }]);
  });

  test('several missing, and a hint when only the case differs', async () => {
    const rep = await validate('Carat,cut\n1,Good\n');
    expect(rep.summary).toBe(
      'Missing required columns: carat, color, clarity (found: Carat,cut); column names are case-sensitive',
    );
  });

  test('a one-column header without other separators is just missing columns', async () => {
    expect(await validate('carat\n1\n')).toMatchObject({ errorCode: 'InputMissingColumns' });
  });
});

describe('InputInvalidValues', () => {
  test('each rule, with line, row and column', async () => {
    const text = [
      H,
      ROW,
      'abc,Ideal,E,SI2,1,2,3,4,5,6', // not a number
      '0,Ideal,E,SI2,1,2,3,4,5,6', // not > 0
      '-1.5,Ideal,E,SI2,1,2,3,4,5,6',
      '0.5,Bad,E,SI2,1,2,3,4,5,6', // not in enum
      '0.5,Ideal,,SI2,1,2,3,4,5,6', // required empty
      '"0.5","Ideal ",E,"",1,2,3,4,5,6', // enum is not trimmed; quoted empty is empty
      '1e999,ideal,E,SI2,1,2,3,4,5,6', // overflow; enum is case-sensitive
      '0x10,Ideal,E,SI2,1,2,3,4,5,6',
      ' ,Ideal,E,SI2,1,2,3,4,5,6', // blank number counts as empty
    ].join('\n');
    const rep = await validate(`${text}\n`);
    expect(rep.errorCode).toBe('InputInvalidValues');
    expect(rep.problemCount).toBe(11);
    expect(rep.problems).toEqual([
      {
        line: 3,
        row: 2,
        column: 'carat',
        code: 'InputInvalidValues',
        message: 'carat "abc" is not a number',
      },
      {
        line: 4,
        row: 3,
        column: 'carat',
        code: 'InputInvalidValues',
        message: 'carat "0" must be greater than 0',
      },
      {
        line: 5,
        row: 4,
        column: 'carat',
        code: 'InputInvalidValues',
        message: 'carat "-1.5" must be greater than 0',
      },
      {
        line: 6,
        row: 5,
        column: 'cut',
        code: 'InputInvalidValues',
        message: 'cut "Bad" is not one of: Fair, Good, Very Good, Premium, Ideal',
      },
      {
        line: 7,
        row: 6,
        column: 'color',
        code: 'InputInvalidValues',
        message: 'color is empty (a value is required)',
      },
      {
        line: 8,
        row: 7,
        column: 'cut',
        code: 'InputInvalidValues',
        message: 'cut "Ideal " is not one of: Fair, Good, Very Good, Premium, Ideal',
      },
      {
        line: 8,
        row: 7,
        column: 'clarity',
        code: 'InputInvalidValues',
        message: 'clarity is empty (a value is required)',
      },
      {
        line: 9,
        row: 8,
        column: 'carat',
        code: 'InputInvalidValues',
        message: 'carat "1e999" is not a finite number',
      },
      {
        line: 9,
        row: 8,
        column: 'cut',
        code: 'InputInvalidValues',
        message: 'cut "ideal" is not one of: Fair, Good, Very Good, Premium, Ideal',
      },
      {
        line: 10,
        row: 9,
        column: 'carat',
        code: 'InputInvalidValues',
        message: 'carat "0x10" is not a number',
      },
      {
        line: 11,
        row: 10,
        column: 'carat',
        code: 'InputInvalidValues',
        message: 'carat is empty (a value is required)',
      },
    ]);
    expect(rep.summary).toBe('11 invalid values; first at line 3: carat "abc" is not a number');
  });

  test('all problems are counted, the first maxProblems listed; lines follow quoted newlines', async () => {
    const lines = [H, `0.5,Good,E,SI2,"a\nb\nc",2,3,4,5,6`];
    for (let i = 0; i < 1000; i++) lines.push(i % 10 === 0 ? 'x,Good,E,SI2,1,2,3,4,5,6' : ROW);
    const rep = await validate(`${lines.join('\n')}\n`, { maxProblems: 3, chunk: 100 });
    expect(rep).toMatchObject({ ok: false, errorCode: 'InputInvalidValues', rows: 1001, problemCount: 100 });
    expect(rep.problems.map((p) => [p.line, p.row])).toEqual([
      [5, 2],
      [15, 12],
      [25, 22],
    ]);
    expect(rep.summary).toBe('100 invalid values; first at line 5: carat "x" is not a number');
  });

  test('a value problem on a later line of a multi-line record reports that line', async () => {
    const rep = await validate(`carat,note,cut,color,clarity\n1,"two\nlines",Bad,E,SI2\n`);
    expect(rep.problems[0]).toMatchObject({ line: 3, row: 1, column: 'cut' });
  });

  test('integer, max, string maxLength, optional columns and escaped quotes', async () => {
    const schema: InputSchema = {
      name: 'custom',
      columns: [
        { name: 'n', type: 'integer', required: true, min: 1, max: 10 },
        { name: 'x', type: 'number', required: false, max: 2.5 },
        { name: 's', type: 'string', required: true, maxLength: 3 },
        { name: 'e', type: 'enum', required: false, values: ['a"b', 'c'] },
        { name: 'absent', type: 'string', required: false },
      ],
    };
    const text = [
      'n,x,s,e',
      '1,,abc,', // optional empties are fine
      '10,2.5,日本語,"a""b"', // 3 characters (9 bytes); escaped quote matches
      '0,2.6,abcd,d',
      '1.5,x,"",c',
      '11, 1 ,ab,c',
    ].join('\r\n');
    const rep = await validate(text, { schema, chunk: 2 });
    expect(rep.problems.map((p) => `${p.line} ${p.message}`)).toEqual([
      '4 n "0" must be at least 1',
      '4 x "2.6" must be at most 2.5',
      '4 s is 4 characters long; at most 3 are allowed',
      '4 e "d" is not one of: a"b, c',
      '5 n "1.5" is not an integer',
      '5 x "x" is not a number',
      '5 s is empty (a value is required)',
      '6 n "11" must be at most 10',
    ]);
  });

  test('field-count problems take precedence over value problems', async () => {
    const rep = await validate(`${H}\nx,Good,E,SI2,1,2,3,4,5,6\n1,2\n`);
    expect(rep).toMatchObject({ errorCode: 'InputNotCsv', problemCount: 2 });
    expect(rep.summary).toBe(
      '1 row does not match the CSV structure; first at line 3: 2 fields, but the header has 10 (also 1 invalid value)',
    );
  });

  test('same outcome for any chunking', async () => {
    const r = rng(9);
    const lines = [H];
    for (let i = 0; i < 300; i++) lines.push(i % 7 === 3 ? '"0",Bad,"E",SI2,"1\n2",2,3,4,5,6' : ROW);
    const text = Buffer.from(`\ufeff${lines.join('\r\n')}\r\n`);
    const whole = await validate(text);
    expect(whole.problemCount).toBe(2 * 43);
    for (let t = 0; t < 5; t++) {
      const rep = await validateCsvStream(iterate(randomChunks(text, r, 50)), {
        schema: diamondsSchema,
        maxBytes: 1e9,
        maxProblems: 100,
      });
      expect(rep).toEqual(whole);
    }
  });
});

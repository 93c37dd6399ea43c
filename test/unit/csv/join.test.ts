import { parse } from 'csv-parse/sync';
import { Readable } from 'node:stream';
import { concatSources, joinPredictions, type JoinOptions } from '../../../src/domain/csv';
import { PipelineError } from '../../../src/domain/errors';
import { chunksOf, iterate, randomChunks, rng } from './support';

async function join(
  input: string | Buffer,
  predictions: string | Buffer,
  opts: JoinOptions & { inChunk?: number; predChunk?: number } = {},
): Promise<{ text: string; rows: number; bytes: number; chunks: number }> {
  const parts: Buffer[] = [];
  const res = await joinPredictions(
    iterate(chunksOf(Buffer.from(input), opts.inChunk ?? 65536)),
    iterate(chunksOf(Buffer.from(predictions), opts.predChunk ?? 65536)),
    (chunk) => {
      parts.push(Buffer.from(chunk));
    },
    opts,
  );
  const out = Buffer.concat(parts);
  expect(res.bytes).toBe(out.length);
  return { text: out.toString('utf8'), rows: res.rows, bytes: res.bytes, chunks: parts.length };
}

async function joinError(
  input: string,
  predictions: string,
  opts: JoinOptions & { inChunk?: number; predChunk?: number } = {},
): Promise<PipelineError> {
  try {
    await join(input, predictions, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(PipelineError);
    return err as PipelineError;
  }
  throw new Error('expected an error');
}

function preds(values: (string | number)[], eol = '\n'): string {
  return values.map((v, i) => `${i},${v},input.csv${eol}`).join('');
}

describe('joinPredictions', () => {
  test('appends the prediction column row by row', async () => {
    const res = await join('a,b\n1,2\n3,4\n5,6\n', preds([10.5, 11, 12]));
    expect(res).toMatchObject({ text: 'a,b,prediction\n1,2,10.5\n3,4,11\n5,6,12\n', rows: 3 });
  });

  test('keeps quoted multi-line records byte for byte, the BOM, and the CRLF line ending', async () => {
    const input = '\ufeffid,"note, long"\r\n1,"line one\r\nline ""two"""\r\n2,plain\r\n3,"x\ny"';
    const predictions = '0,"[1, 2]",f.csv\n1,"3.5",f.csv\r\n2,"say ""hi""",f.csv';
    const res = await join(input, predictions);
    expect(res.text).toBe(
      '\ufeffid,"note, long",prediction\r\n' +
        '1,"line one\r\nline ""two""","[1, 2]"\r\n' +
        '2,plain,3.5\r\n' +
        '3,"x\ny","say ""hi"""\r\n',
    );
    // The output is CSV that csv-parse reads back as the input columns plus the predictions.
    expect(parse(res.text, { bom: true })).toEqual([
      ['id', 'note, long', 'prediction'],
      ['1', 'line one\r\nline "two"', '[1, 2]'],
      ['2', 'plain', '3.5'],
      ['3', 'x\ny', 'say "hi"'],
    ]);
  });

  test('the same output for any chunking of either file, 1-byte chunks included', async () => {
    const r = rng(21);
    const lines = ['id,text'];
    const values: string[] = [];
    for (let i = 0; i < 200; i++) {
      lines.push(i % 3 === 0 ? `${i},"a,""b""\r\nc"` : `${i},t${i}`);
      values.push(i % 5 === 0 ? `"${i},x"` : String(i * 1.5));
    }
    const input = Buffer.from(`${lines.join('\r\n')}\r\n`);
    const predictions = Buffer.from(preds(values));
    const expected = (await join(input, predictions)).text;
    for (let t = 0; t < 6; t++) {
      const parts: Buffer[] = [];
      const inChunks = t === 0 ? chunksOf(input, 1) : randomChunks(input, r, 1 + t * 20);
      const predChunks = t === 1 ? chunksOf(predictions, 1) : randomChunks(predictions, r, 1 + t * 30);
      const res = await joinPredictions(
        iterate(inChunks),
        iterate(predChunks),
        (c) => void parts.push(Buffer.from(c)),
      );
      expect(Buffer.concat(parts).toString()).toBe(expected);
      expect(res.rows).toBe(200);
    }
  });

  test('predictions out of order within the window are put in place', async () => {
    const r = rng(4);
    const n = 1000;
    const rows = Array.from({ length: n }, (_, i) => i);
    // Shuffle within blocks of 50.
    for (let b = 0; b < n; b += 50) {
      for (let i = b + 49; i > b; i--) {
        const j = b + Math.floor(r() * (i - b + 1));
        [rows[i], rows[j]] = [rows[j]!, rows[i]!];
      }
    }
    const input = `x\n${Array.from({ length: n }, (_, i) => `v${i}`).join('\n')}\n`;
    const predictions = rows.map((i) => `${i},p${i},f.csv\n`).join('');
    const res = await join(input, predictions, { reorderWindow: 60, predChunk: 97 });
    expect(res.text).toBe(`x,prediction\n${Array.from({ length: n }, (_, i) => `v${i},p${i}\n`).join('')}`);
  });

  test('predictions further out of order than the window fail', async () => {
    const n = 100;
    const input = `x\n${'v\n'.repeat(n)}`;
    const reversed = Array.from({ length: n }, (_, i) => `${n - 1 - i},p,f.csv\n`).join('');
    expect((await join(input, reversed, { reorderWindow: n })).rows).toBe(n);
    const err = await joinError(input, reversed, { reorderWindow: 10 });
    expect(err.code).toBe('PredictionsInvalid');
    expect(err.message).toBe(
      'Predictions are too far out of order: more than 10 rows arrived before the prediction for row 0',
    );
  });

  test('a missing prediction', async () => {
    const err = await joinError('a\n1\n2\n3\n', preds(['x', 'y']));
    expect(err).toMatchObject({
      code: 'PredictionsInvalid',
      message: 'No prediction for row 2 (input line 4); the predictions file ends early',
    });
    const gap = await joinError('a\n1\n2\n3\n', '0,x,f\n2,z,f\n');
    expect(gap.message).toBe('No prediction for row 1 (input line 3); the predictions file ends early');
  });

  test('extra predictions', async () => {
    const err = await joinError('a\n1\n2\n', preds(['x', 'y', 'z', 'w']));
    expect(err).toMatchObject({
      code: 'PredictionsInvalid',
      message:
        '2 extra predictions: the input has 2 rows but there is a prediction for row 2 (line 3 of the predictions file)',
    });
  });

  test('duplicate predictions', async () => {
    const before = await joinError('a\n1\n2\n3\n', '0,x,f\n1,y,f\n0,x,f\n2,z,f\n');
    expect(before).toMatchObject({
      code: 'PredictionsInvalid',
      message: 'Duplicate prediction for row 0 at line 3 of the predictions file',
    });
    const ahead = await joinError('a\n1\n2\n3\n', '0,x,f\n2,y,f\n2,z,f\n1,w,f\n');
    expect(ahead.message).toBe('Duplicate prediction for row 2 at line 3 of the predictions file');
    const atEnd = await joinError('a\n1\n', '0,x,f\n0,x,f\n');
    expect(atEnd.message).toContain(
      '1 extra prediction: the input has 1 rows but there is a second prediction for row 0',
    );
  });

  test.each([['1.0'], ['abc'], ['-1'], [''], ['"1"""']])('row index %j is not an integer', async (index) => {
    const err = await joinError('a\n1\n', `${index},x,f\n`);
    expect(err.code).toBe('PredictionsInvalid');
    expect(err.message).toMatch(
      /^Row index .* at line 1 of the predictions file is not a non-negative integer$/,
    );
  });

  test('a predictions line without three fields, and a broken predictions file', async () => {
    const err = await joinError('a\n1\n', '0,x\n');
    expect(err.message).toBe(
      'Line 1 of the predictions file has 2 fields; expected 3 (row,prediction,file_name)',
    );
    const broken = await joinError('a\n1\n', '0,"x,f\n');
    expect(broken.code).toBe('PredictionsInvalid');
    expect(broken.message).toContain('not valid CSV');
  });

  test('predictions read by the simple-line loop and by the scanner agree, line numbers included', async () => {
    // Simple lines (the fast loop) mixed with lines only the scanner reads: quoted values, blank
    // lines, a quoted file name, a value with spaces; in LF and CRLF files and any chunking.
    const r = rng(5);
    for (const eol of ['\n', '\r\n']) {
      const n = 3000;
      const lines: string[] = [];
      const values: string[] = [];
      for (let i = 0; i < n; i++) {
        const kind = r();
        const v = kind < 0.05 ? `"[${i}, ""a""]"` : kind < 0.08 ? `v ${i}!` : String(i / 4);
        values.push(v.startsWith('"') ? `"[${i}, ""a""]"` : v);
        lines.push(kind > 0.97 ? `${i},${v},"f.csv"` : `${i},${v},f.csv`);
        if (r() < 0.02) lines.push('');
      }
      const input = `x${eol}${Array.from({ length: n }, (_, i) => `r${i}`).join(eol)}${eol}`;
      const expected = `x,prediction${eol}${Array.from({ length: n }, (_, i) => `r${i},${values[i]}`).join(eol)}${eol}`;
      const predictions = Buffer.from(lines.join(eol) + eol);
      for (const predChunk of [5, 100, 4096]) {
        expect((await join(input, predictions, { predChunk })).text).toBe(expected);
      }
      // A bad line after many simple ones is reported at its line, whatever the chunking.
      const bad = Buffer.from(`${lines.join(eol)}${eol}x,1,f.csv${eol}`);
      const lineNo = lines.length + 1;
      for (const predChunk of [11, 1000, 65536]) {
        const err = await joinError(input, bad.toString(), { predChunk });
        expect(err.message).toContain(`at line ${lineNo} of the predictions file`);
      }
    }
  });

  test('blank input lines are skipped, as in validation', async () => {
    const res = await join('a,b\n\n1,2\n  \n3,4\n\n', preds(['x', 'y']));
    expect(res).toMatchObject({ text: 'a,b,prediction\n1,2,x\n3,4,y\n', rows: 2 });
  });

  test('predictions with a BOM, CRLF and blank lines', async () => {
    const res = await join('a\n1\n2\n', '\ufeff0,x,f\r\n\r\n1,y,f\r\n');
    expect(res.text).toBe('a,prediction\n1,x\n2,y\n');
  });

  test('an existing prediction column gets a unique name', async () => {
    const res = await join('prediction,prediction_2\n1,2\n', preds(['x']));
    expect(res.text).toBe('prediction,prediction_2,prediction_3\n1,2,x\n');
    const custom = await join('a\n1\n', preds(['x']), { column: 'price, predicted' });
    expect(custom.text).toBe('a,"price, predicted"\n1,x\n');
  });

  test('header-only input with no predictions', async () => {
    expect(await join('a,b\n', '')).toMatchObject({ text: 'a,b,prediction\n', rows: 0 });
  });

  test('an empty input fails', async () => {
    expect((await joinError('', '')).code).toBe('InputEmpty');
  });

  test('a CR-only input fails (validation rejects it before a join could run)', async () => {
    const err = await joinError('a,b\r1,2\r', preds(['x']));
    expect(err.code).toBe('InputNotCsv');
    expect(err.message).toContain('CR-only line endings');
  });

  test('an input row that does not match the header fails', async () => {
    const err = await joinError('a,b\n1,2\n3\n', preds(['x', 'y']));
    expect(err.code).toBe('InputNotCsv');
  });

  test('awaits out (backpressure) and hands out bounded chunks', async () => {
    const n = 20_000;
    const input = `id\n${Array.from({ length: n }, (_, i) => String(i)).join('\n')}\n`;
    let inFlight = 0;
    let maxInFlight = 0;
    let maxChunk = 0;
    let bytes = 0;
    const res = await joinPredictions(
      Readable.from(chunksOf(Buffer.from(input), 4096)),
      Readable.from(chunksOf(Buffer.from(preds(Array.from({ length: n }, () => 'p'))), 3000)),
      async (chunk) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        maxChunk = Math.max(maxChunk, chunk.length);
        bytes += chunk.length;
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
      },
      { chunkBytes: 8192 },
    );
    expect(res).toEqual({ rows: n, failed: 0, bytes, bom: false });
    expect(maxInFlight).toBe(1);
    expect(maxChunk).toBeLessThanOrEqual(8192);
  });

  test('a failure stops reading the predictions stream', async () => {
    const predStream = Readable.from(
      chunksOf(Buffer.from(preds(Array.from({ length: 5000 }, () => 'p'))), 100),
    );
    await expect(
      joinPredictions(iterate([Buffer.from('a\n1\n2\n3,4\n')]), predStream, () => undefined),
    ).rejects.toMatchObject({ code: 'InputNotCsv' });
    await new Promise((r) => setImmediate(r));
    expect(predStream.destroyed).toBe(true);
  });
});

describe('joinPredictions with an errors sink (rows AML skipped)', () => {
  async function joinWithErrors(
    input: string,
    predictions: string,
    opts: JoinOptions & { inChunk?: number; predChunk?: number } = {},
  ): Promise<{ text: string; errors: string; rows: number; failed: number; errorChunks: number }> {
    const parts: Buffer[] = [];
    const errs: Buffer[] = [];
    const res = await joinPredictions(
      iterate(chunksOf(Buffer.from(input), opts.inChunk ?? 65536)),
      iterate(chunksOf(Buffer.from(predictions), opts.predChunk ?? 65536)),
      (c) => void parts.push(Buffer.from(c)),
      { ...opts, errors: (c) => void errs.push(Buffer.from(c)), missingReason: 'skipped' },
    );
    return {
      text: Buffer.concat(parts).toString(),
      errors: Buffer.concat(errs).toString(),
      rows: res.rows,
      failed: res.failed,
      errorChunks: errs.length,
    };
  }

  test('rows of a failed mini-batch go to the errors file with their input line numbers', async () => {
    // Rows 1 and 2 (input lines 3 and 5: row 1 spans two lines) have no prediction.
    const input = 'a,b\n1,x\n2,"multi\nline"\n3,y\n4,z\n';
    const res = await joinWithErrors(input, '0,p0,f\n3,p3,f\n');
    expect(res.text).toBe('a,b,prediction\n1,x,p0\n4,z,p3\n');
    expect(res.errors).toBe('input_line,reason,a,b\n3,skipped,2,"multi\nline"\n5,skipped,3,y\n');
    expect(res).toMatchObject({ rows: 2, failed: 2 });
    expect(parse(res.errors, { columns: true })).toEqual([
      { input_line: '3', reason: 'skipped', a: '2', b: 'multi\nline' },
      { input_line: '5', reason: 'skipped', a: '3', b: 'y' },
    ]);
  });

  test('a predictions file that ends early, or is empty, leaves the rest as failed', async () => {
    const early = await joinWithErrors('a\n1\n2\n3\n', '0,x,f\n', { predChunk: 3, inChunk: 2 });
    expect(early).toMatchObject({ text: 'a,prediction\n1,x\n', rows: 1, failed: 2 });
    expect(early.errors).toBe('input_line,reason,a\n3,skipped,2\n4,skipped,3\n');
    const none = await joinWithErrors('\ufeffa\r\n1\r\n2\r\n', '');
    expect(none).toMatchObject({ text: '\ufeffa,prediction\r\n', rows: 0, failed: 2 });
    expect(none.errors).toBe('\ufeffinput_line,reason,a\r\n2,skipped,1\r\n3,skipped,2\r\n');
  });

  test('no missing row: nothing is handed to the errors sink', async () => {
    const res = await joinWithErrors('a\n1\n2\n', preds(['x', 'y']));
    expect(res).toMatchObject({ rows: 2, failed: 0, errors: '', errorChunks: 0 });
  });

  test('a gap longer than the reorder window: memory stays bounded, every row is accounted for', async () => {
    const n = 5000;
    const skipped = new Set(Array.from({ length: 2000 }, (_, i) => 1000 + i));
    const input = `x\n${Array.from({ length: n }, (_, i) => `v${i}`).join('\n')}\n`;
    const predictions = Array.from({ length: n }, (_, i) => i)
      .filter((i) => !skipped.has(i))
      .map((i) => `${i},p${i},f.csv\n`)
      .join('');
    const res = await joinWithErrors(input, predictions, { reorderWindow: 50, predChunk: 97, inChunk: 333 });
    expect(res).toMatchObject({ rows: n - skipped.size, failed: skipped.size });
    const scored = parse(res.text, { columns: true }) as { x: string; prediction: string }[];
    expect(scored.map((r) => r.x)).toEqual(
      Array.from({ length: n }, (_, i) => i)
        .filter((i) => !skipped.has(i))
        .map((i) => `v${i}`),
    );
    expect(scored.every((r) => r.prediction === `p${r.x.slice(1)}`)).toBe(true);
    const failed = parse(res.errors, { columns: true }) as { input_line: string; x: string }[];
    expect(failed.map((r) => Number(r.input_line))).toEqual([...skipped].map((i) => i + 2));
    expect(failed.map((r) => r.x)).toEqual([...skipped].map((i) => `v${i}`));
  });

  test('header names that clash with the added columns are made unique', async () => {
    const res = await joinWithErrors('reason,input_line\n1,2\n', '');
    expect(res.errors.split('\n')[0]).toBe('input_line_2,reason_2,reason,input_line');
  });

  test('extra and duplicate predictions are still errors', async () => {
    await expect(joinWithErrors('a\n1\n', '0,x,f\n1,y,f\n')).rejects.toMatchObject({
      code: 'PredictionsInvalid',
    });
    await expect(joinWithErrors('a\n1\n2\n', '1,x,f\n1,y,f\n')).rejects.toMatchObject({
      code: 'PredictionsInvalid',
    });
  });

  test('header: false writes no header line (a later part of a split file); firstLine numbers the rows from the file line of the first', async () => {
    const input = 'a,b\n5,x\n6,y\n7,z\n';
    const res = await joinWithErrors(input, '0,p5,part-00001.csv\n2,p7,part-00001.csv\n', {
      header: false,
      firstLine: 100,
    });
    expect(res.text).toBe('5,x,p5\n7,z,p7\n');
    expect(res.errors).toBe('101,skipped,6,y\n');
    // The errors header can be asked for on its own: the first part with missing rows writes it.
    const first = await joinWithErrors(input, '0,p5,f\n', {
      header: false,
      errorsHeader: true,
      firstLine: 12,
    });
    expect(first.text).toBe('5,x,p5\n');
    expect(first.errors).toBe('input_line,reason,a,b\n13,skipped,6,y\n14,skipped,7,z\n');
    // Without missing rows nothing reaches the errors sink, header or not.
    expect(await joinWithErrors(input, preds(['a', 'b', 'c']), { errorsHeader: true })).toMatchObject({
      errors: '',
      errorChunks: 0,
    });
  });

  test('firstLine counts from the first data row, whatever stands before it', async () => {
    // A header spanning two lines, blank lines before it and after it: the first row is on line 6 here.
    const input = '\n\na,"b\nc"\n\n5,x\n6,y\n\n7,z\n';
    expect((await joinWithErrors(input, '0,p,f\n')).errors).toBe(
      'input_line,reason,a,"b\nc"\n7,skipped,6,y\n9,skipped,7,z\n',
    );
    expect((await joinWithErrors(input, '0,p,f\n', { firstLine: 20 })).errors).toBe(
      'input_line,reason,a,"b\nc"\n21,skipped,6,y\n23,skipped,7,z\n',
    );
  });

  test('bom sets the BOM of both headers; the result says whether the input had one', async () => {
    const input = 'a\r\n1\r\n2\r\n';
    const withBom = await joinPredictions(
      iterate([Buffer.from(`\ufeff${input}`)]),
      iterate([]),
      () => undefined,
      {
        errors: () => undefined,
      },
    );
    expect(withBom.bom).toBe(true);
    const given = await joinWithErrors(input, '1,p,f\r\n', { bom: true });
    expect(given.text).toBe('\ufeffa,prediction\r\n2,p\r\n');
    expect(given.errors).toBe('\ufeffinput_line,reason,a\r\n2,skipped,1\r\n');
    const dropped = await joinWithErrors(`\ufeff${input}`, '1,p,f\r\n', { bom: false });
    expect(dropped.text).toBe('a,prediction\r\n2,p\r\n');
    expect(dropped.errors).toBe('input_line,reason,a\r\n2,skipped,1\r\n');
  });

  test('the predictions may be the concatenation of several runs of one file', async () => {
    const runs = ['2,c,f.csv\n3,d,f.csv\n', '0,a,f.csv\n', '1,b,f.csv\n'];
    const parts: Buffer[] = [];
    const res = await joinPredictions(
      iterate([Buffer.from('x\n1\n2\n3\n4\n')]),
      concatSources(runs.map((r) => () => iterate([Buffer.from(r)]))),
      (c) => void parts.push(Buffer.from(c)),
    );
    expect(res.rows).toBe(4);
    expect(Buffer.concat(parts).toString()).toBe('x,prediction\n1,a\n2,b\n3,c\n4,d\n');
  });
});

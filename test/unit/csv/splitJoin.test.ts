/**
 * Differential test of the split path against the unsplit one, over the edge cases of a file's start,
 * end and line endings: a file validated whole and joined with AML's predictions for it must give
 * byte for byte the same outbox and errors files as the same file split while validating (SPLIT_ROWS
 * small) and joined part by part, as validateAndStage and publishPredictions do, for every set of rows
 * AML may have skipped; or both paths reject it the same way.
 */
import {
  joinParts,
  joinPredictions,
  validateCsvStream,
  type PartInfo,
  type ValidationReport,
} from '../../../src/domain/csv';
import type { InputSchema } from '../../../src/domain/schema';
import { chunksOf, iterate } from './support';

const schema: InputSchema = { name: 't', columns: [{ name: 'id', type: 'number', required: true }] };

const BOM = '\ufeff';
const REASON = 'skipped';
/** id,note rows; some notes quoted, one with line breaks inside. */
const R = ['1,a', '2,"b, c"', '3,"line\nbreak"', '4,d', '5,"e ""q"""'];

const CASES: [string, string][] = [
  ['LF', `id,note\n${R.join('\n')}\n`],
  ['CRLF', `id,note\r\n${R.join('\r\n')}\r\n`],
  ['a BOM', `${BOM}id,note\n${R.join('\n')}\n`],
  ['a BOM, CRLF', `${BOM}id,note\r\n${R.join('\r\n')}\r\n`],
  ['a blank line before the header', `\nid,note\n${R.join('\n')}\n`],
  ['a BOM and blank lines before the header, CRLF', `${BOM}\r\n  \r\n\r\nid,note\r\n${R.join('\r\n')}\r\n`],
  ['a BOM and a blank line before the header, LF', `${BOM}\nid,note\n${R.join('\n')}\n`],
  ['blank lines after the header, between rows and at the end', `id,note\n\n\n1,a\n2,b\n\n3,c\n \n4,d\n\n\n`],
  ['the last row without a line break', `id,note\n${R.join('\n')}`],
  ['the last row without a line break, CRLF and a BOM', `${BOM}id,note\r\n${R.join('\r\n')}`],
  ['a last blank line without a line break', `id,note\r\n1,a\r\n2,b\r\n3,c\r\n  `],
  ['records spanning lines at part boundaries', `id,note\n1,"x\ny"\n2,"\n"\n3,"p\r\nq"\n4,z\n`],
  ['a header spanning two lines', `id,"no\nte"\n1,a\n2,b\n\n3,"c\nd"\n4,e\n`],
  ['a header spanning lines after blank lines, CRLF', `\r\nid,"no\r\nte"\r\n1,a\r\n2,b\r\n3,c\r\n`],
  ['exactly one part', `id,note\n1,a\n2,b\n`],
  ['one row', `${BOM}\nid,note\n1,a`],
];

/** Files both paths must reject, with the same problem. */
const REJECTED: [string, string][] = [
  ['a header only', `${BOM}id,note\r\n`],
  ['a header only, after blank lines', `\n\nid,note\n\n`],
  ['blank lines only', `${BOM}\n \n`],
  ['a CRLF header after an LF blank line', `\nid,note\r\n1,a\r\n2,b\r\n3,c\r\n`],
  ['an LF header after a CRLF blank line', `\r\nid,note\n1,a\n2,b\n3,c\n`],
  ['mixed line endings in the rows', `id,note\n1,a\r\n2,b\n3,c\n`],
];

interface Published {
  out: string;
  errors: string;
  rows: number;
  failed: number;
}

async function validate(
  input: Buffer,
  chunk: number,
  rows?: number,
): Promise<{ rep: ValidationReport; parts: Buffer[] }> {
  const parts: Buffer[][] = [];
  const rep = await validateCsvStream(iterate(chunksOf(input, chunk)), {
    schema,
    maxBytes: 1e6,
    maxProblems: 10,
    ...(rows !== undefined
      ? {
          split: {
            rows,
            open: (i: number) => {
              parts[i] = [];
              return {
                write: (c: Buffer) => void parts[i]!.push(Buffer.from(c)),
                end: async () => undefined,
                abort: async () => undefined,
              };
            },
          },
        }
      : {}),
  });
  return { rep, parts: parts.map((p) => Buffer.concat(p)) };
}

/** AML's predictions for `rows` rows (0-based, within their file), but those in `skip`. */
function predictions(rows: number[], skip: (k: number) => boolean, file: string, eol: string): Buffer {
  return Buffer.from(rows.map((r, k) => (skip(k) ? '' : `${k},p${r},${file}${eol}`)).join(''));
}

async function collect(
  run: (out: (c: Buffer) => void, errors: (c: Buffer) => void) => Promise<{ rows: number; failed: number }>,
): Promise<Published> {
  const out: Buffer[] = [];
  const errors: Buffer[] = [];
  const res = await run(
    (c) => void out.push(Buffer.from(c)),
    (c) => void errors.push(Buffer.from(c)),
  );
  return {
    out: Buffer.concat(out).toString(),
    errors: Buffer.concat(errors).toString(),
    rows: res.rows,
    failed: res.failed,
  };
}

/** The unsplit path: the file staged whole, joined with AML's output for it. */
async function unsplit(input: Buffer, rows: number, missing: ReadonlySet<number>): Promise<Published> {
  const all = Array.from({ length: rows }, (_, g) => g);
  return collect((out, errors) =>
    joinPredictions(
      iterate([input]),
      iterate([predictions(all, (g) => missing.has(g), 'f.csv', '\n')]),
      out,
      {
        errors,
        missingReason: REASON,
      },
    ),
  );
}

/**
 * The split path as validateAndStage and publishPredictions take it: one part is staged as a plain
 * file (joined with no firstLine); more are joined part by part with each part's firstLine.
 */
async function splitJoin(
  parts: Buffer[],
  info: PartInfo[],
  missing: ReadonlySet<number>,
): Promise<Published> {
  let next = 0;
  const pieces = parts.map((file, i) => {
    const globals = Array.from({ length: info[i]!.rows }, () => next++);
    const name = `part-${String(i).padStart(5, '0')}.csv`;
    return {
      input: iterate(chunksOf(file, 3)),
      predictions: iterate([predictions(globals, (k) => missing.has(globals[k]!), name, '\r\n')]),
      ...(parts.length > 1 ? { firstLine: info[i]!.firstLine } : {}),
    };
  });
  return collect((out, errors) => joinParts(pieces, out, { errors, missingReason: REASON }));
}

/** Every subset of `n` rows (n is small). */
function subsets(n: number): Set<number>[] {
  return Array.from(
    { length: 2 ** n },
    (_, mask) => new Set(Array.from({ length: n }, (_, g) => g).filter((g) => mask & (1 << g))),
  );
}

describe('split path = unsplit path', () => {
  test.each(CASES)(
    '%s: the same outbox and errors files, whichever rows AML skipped',
    async (_name, text) => {
      const input = Buffer.from(text);
      const whole = await validate(input, 64 * 1024);
      expect(whole.rep).toMatchObject({ ok: true });
      const rows = whole.rep.rows;
      let errorFiles = 0;
      for (const splitRows of [1, 2, 3]) {
        for (const chunk of [1, 5, 64 * 1024]) {
          const { rep, parts } = await validate(input, chunk, splitRows);
          expect({ ...rep, parts: [] }).toEqual(whole.rep);
          expect(parts).toHaveLength(Math.ceil(rows / splitRows));
          // Part 0 is a byte-exact prefix of the file: a file of one part is the file itself.
          expect(input.subarray(0, parts[0]!.length).equals(parts[0]!)).toBe(true);
          if (parts.length === 1) expect(parts[0]!.equals(input)).toBe(true);
          if (chunk !== 64 * 1024) continue;
          for (const missing of subsets(rows)) {
            const expected = await unsplit(input, rows, missing);
            expect(await splitJoin(parts, rep.parts, missing)).toEqual(expected);
            expect(expected).toMatchObject({ rows: rows - missing.size, failed: missing.size });
            if (missing.size > 0) errorFiles++;
          }
        }
      }
      expect(errorFiles).toBe(3 * (2 ** rows - 1));
    },
  );

  test('the cases the bugs were reported on, stated outright', async () => {
    // A BOM, rows skipped only in part 1: the errors file starts with the BOM.
    const bom = Buffer.from(`${BOM}id,note\n1,a\n2,b\n3,c\n`);
    let v = await validate(bom, 1024, 2);
    expect(await splitJoin(v.parts, v.rep.parts, new Set([2]))).toEqual({
      out: `${BOM}id,note,prediction\n1,a,p0\n2,b,p1\n`,
      errors: `${BOM}input_line,reason,id,note\n4,${REASON},3,c\n`,
      rows: 2,
      failed: 1,
    });
    // A blank line before the header: part 0's rows keep their file lines (3 and 4), and so do part 1's.
    const blank = Buffer.from(`\nid,note\n1,a\n2,b\n3,c\n`);
    v = await validate(blank, 1024, 2);
    expect(v.rep.parts.map((p) => p.firstLine)).toEqual([3, 5]);
    const published = await splitJoin(v.parts, v.rep.parts, new Set([0, 2]));
    expect(published.errors).toBe(`input_line,reason,id,note\n3,${REASON},1,a\n5,${REASON},3,c\n`);
  });

  test.each(REJECTED)('%s: rejected alike, split or not', async (_name, text) => {
    const input = Buffer.from(text);
    const whole = await validate(input, 64 * 1024);
    expect(whole.rep.ok).toBe(false);
    expect(whole.rep.summary).toMatch(/\S/);
    const problem = (r: ValidationReport) => [r.errorCode, r.summary, r.problems];
    for (const chunk of [1, 64 * 1024]) {
      const { rep } = await validate(input, chunk, 2);
      expect(problem(rep)).toEqual(problem(whole.rep));
    }
  });
});

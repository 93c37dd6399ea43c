import {
  concatSources,
  joinParts,
  joinPredictions,
  splitPredictionsByFile,
  validateCsvStream,
  type PartWriter,
} from '../../../src/domain/csv';
import { PipelineError } from '../../../src/domain/errors';
import { chunksOf, diamondsCsv, diamondsSchema, iterate, randomChunks, rng } from './support';

/** Collects what a writer receives. */
class Sink implements PartWriter {
  chunks: Buffer[] = [];
  state: 'open' | 'ended' | 'aborted' = 'open';
  async write(chunk: Buffer): Promise<void> {
    expect(this.state).toBe('open');
    this.chunks.push(Buffer.from(chunk));
    await new Promise<void>((r) => setImmediate(r));
  }
  async end(): Promise<void> {
    this.state = 'ended';
  }
  async abort(): Promise<void> {
    this.state = 'aborted';
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

async function regroup(
  predictions: string | Buffer,
  opts: { chunks?: Buffer[]; files?: ReadonlySet<string> } = {},
): Promise<{
  runs: Map<string, Sink[]>;
  opened: [string, number][];
  rowsByFile: Map<string, number>;
  count: number;
}> {
  const runs = new Map<string, Sink[]>();
  const opened: [string, number][] = [];
  const res = await splitPredictionsByFile(
    iterate(opts.chunks ?? [Buffer.from(predictions)]),
    async (file, run) => {
      opened.push([file, run]);
      const list = runs.get(file) ?? [];
      expect(run).toBe(list.length);
      const s = new Sink();
      list.push(s);
      runs.set(file, list);
      return s;
    },
    opts.files ? { files: opts.files } : {},
  );
  return { runs, opened, rowsByFile: res.rowsByFile, count: res.runs };
}

describe('splitPredictionsByFile', () => {
  test('each contiguous run of a file goes, verbatim, to a writer of its own; runs numbered per file', async () => {
    const text =
      '0,1.5,b.csv\n1,"x,y",b.csv\n0,7,a.csv\n2,3,b.csv\n1,8,a.csv\n2,9,a.csv\n3,"say ""hi""",b.csv\n';
    const input = Buffer.from(text);
    for (const chunks of [[input], chunksOf(input, 1), randomChunks(input, rng(3), 9)]) {
      const res = await regroup(text, { chunks });
      expect(res.opened).toEqual([
        ['b.csv', 0],
        ['a.csv', 0],
        ['b.csv', 1],
        ['a.csv', 1],
        ['b.csv', 2],
      ]);
      expect(res.count).toBe(5);
      expect(res.runs.get('b.csv')!.map((s) => s.text)).toEqual([
        '0,1.5,b.csv\n1,"x,y",b.csv\n',
        '2,3,b.csv\n',
        '3,"say ""hi""",b.csv\n',
      ]);
      expect(res.runs.get('a.csv')!.map((s) => s.text)).toEqual(['0,7,a.csv\n', '1,8,a.csv\n2,9,a.csv\n']);
      expect([...res.rowsByFile]).toEqual([
        ['b.csv', 4],
        ['a.csv', 3],
      ]);
      for (const list of res.runs.values()) expect(list.every((s) => s.state === 'ended')).toBe(true);
    }
  });

  test('CRLF lines are kept; a last line without a break gets one; a quoted name is the same file', async () => {
    const res = await regroup('0,a,f.csv\r\n1,b,"f.csv"\r\n\r\n2,c,g.csv');
    expect(res.runs.get('f.csv')!.map((s) => s.text)).toEqual(['0,a,f.csv\r\n1,b,"f.csv"\r\n']);
    expect(res.runs.get('g.csv')!.map((s) => s.text)).toEqual(['2,c,g.csv\r\n']);
    expect(res.count).toBe(2);
  });

  test('skipped rows are no concern of the split: gaps pass through', async () => {
    const res = await regroup('0,a,f.csv\n5,b,f.csv\n9,c,f.csv\n');
    expect(res.rowsByFile.get('f.csv')).toBe(3);
  });

  test('a file the job did not have, an unsafe name, or a malformed line is PredictionsInvalid', async () => {
    const files = new Set(['part-00000.csv', 'part-00001.csv']);
    const bad = [
      ['0,a,part-00000.csv\n0,b,part-00002.csv\n', { files }],
      ['0,a,../x.csv\n', {}],
      ['0,a,\n', {}],
      ['0,a\n', {}],
      ['x,a,f.csv\n', {}],
      ['0,"a,f.csv\n', {}],
    ] as const;
    for (const [text, opts] of bad) {
      const sinks: Sink[] = [];
      const err = await splitPredictionsByFile(
        iterate([Buffer.from(text)]),
        () => {
          const s = new Sink();
          sinks.push(s);
          return s;
        },
        opts,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PipelineError);
      expect((err as PipelineError).code).toBe('PredictionsInvalid');
      // The run being written when the error came is aborted; earlier runs were ended.
      expect(sinks.every((s) => s.state !== 'open')).toBe(true);
    }
    // A run whose end (its blob commit) fails fails the whole split, after the others settled.
    const failing = splitPredictionsByFile(
      iterate([Buffer.from('0,a,f.csv\n0,b,g.csv\n1,c,f.csv\n')]),
      (file) => {
        const s = new Sink();
        if (file === 'g.csv') s.end = () => Promise.reject(new Error('commit failed'));
        return s;
      },
    );
    await expect(failing).rejects.toThrow('commit failed');
    const err = (await regroup('0,a,part-00003.csv\n', { files }).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('"part-00003.csv"');
  });
});

/**
 * The differential test of the split path: a file split into parts, the parts' predictions written
 * as AML writes a folder job's output (mini-batches of files in any order, some rows skipped),
 * regrouped by file and joined part by part, gives the same output and errors as the whole file
 * joined with its predictions.
 */
describe('split, regroup and join part by part = join the whole file', () => {
  async function collect(run: (out: (c: Buffer) => void, errs: (c: Buffer) => void) => Promise<void>) {
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    await run(
      (c) => void out.push(Buffer.from(c)),
      (c) => void errs.push(Buffer.from(c)),
    );
    return { out: Buffer.concat(out).toString(), errors: Buffer.concat(errs).toString() };
  }

  for (const [name, eol, bom] of [
    ['LF', '\n', false],
    ['CRLF with a BOM', '\r\n', true],
  ] as const) {
    test(`${name}, over seeds`, async () => {
      for (let seed = 1; seed <= 4; seed++) {
        const r = rng(seed);
        const rows = 400 + Math.floor(r() * 400);
        const perPart = 50 + Math.floor(r() * 100);
        // Quoted fields with line breaks (in the unchecked depth column), so input lines and rows differ.
        const csv = diamondsCsv(rows, seed, eol)
          .split(eol)
          .map((line, i) =>
            i % 5 === 4 ? line.replace(/^((?:[^,]*,){4})([^,]*)/, `$1"6${eol}""$2"""`) : line,
          )
          .join(eol);
        const input = Buffer.from((bom ? '\ufeff' : '') + csv);
        expect(csv.split('\n').length).toBeGreaterThan(rows + rows / 10);

        // Split while validating.
        const parts: Buffer[][] = [];
        const rep = await validateCsvStream(iterate(randomChunks(input, r, 2000)), {
          schema: diamondsSchema,
          maxBytes: 1e9,
          maxProblems: 10,
          split: {
            rows: perPart,
            open: (i) => {
              parts[i] = [];
              return {
                write: (c) => void parts[i]!.push(Buffer.from(c)),
                end: async () => undefined,
                abort: async () => undefined,
              };
            },
          },
        });
        expect(rep.ok).toBe(true);
        expect(rep.parts.reduce((n, p) => n + p.rows, 0)).toBe(rows);
        const partFiles = parts.map((p) => Buffer.concat(p));
        const names = partFiles.map((_, i) => `part-${String(i).padStart(5, '0')}.csv`);

        // AML's output: per part, its rows in order, some skipped (a script returning fewer rows, or
        // a failed mini-batch), mini-batches of up to 3 files finishing in any order.
        const skipped = new Set<number>();
        const lines: string[][] = [];
        let global = 0;
        for (let i = 0; i < partFiles.length; i++) {
          const mine: string[] = [];
          for (let k = 0; k < rep.parts[i]!.rows; k++, global++) {
            if (r() < 0.05 || (i === 1 && k < 10)) skipped.add(global);
            else mine.push(`${k},${predictionFor(global)},${names[i]}${eol}`);
          }
          lines.push(mine);
        }
        const batches: string[] = [];
        for (let i = 0; i < lines.length; i += 3)
          batches.push(
            lines
              .slice(i, i + 3)
              .flat()
              .join(''),
          );
        shuffle(batches, r);
        const amlOutput = Buffer.from(batches.join(''));

        // Regroup by file.
        const runs = new Map<string, Buffer[][]>();
        const regrouped = await splitPredictionsByFile(
          iterate(randomChunks(amlOutput, r, 3000)),
          (file, run) => {
            const list = runs.get(file) ?? [];
            list[run] = [];
            runs.set(file, list);
            return {
              write: (c) => void list[run]!.push(Buffer.from(c)),
              end: async () => undefined,
              abort: async () => undefined,
            };
          },
          { files: new Set(names) },
        );
        // Each file's lines are contiguous in AML's output: one run per file that has predictions.
        expect(regrouped.runs).toBe(lines.filter((l) => l.length > 0).length);
        expect([...regrouped.rowsByFile.values()].reduce((a, b) => a + b, 0)).toBe(rows - skipped.size);

        // Join part by part, as the publish activity does.
        const split = await collect(async (out, errs) => {
          const res = await joinParts(
            partFiles.map((file, i) => ({
              input: iterate(chunksOf(file, 1500)),
              predictions: concatSources((runs.get(names[i]!) ?? []).map((chunks) => () => iterate(chunks))),
              firstLine: rep.parts[i]!.firstLine,
            })),
            out,
            { errors: errs, missingReason: 'skipped' },
          );
          expect(res.failed + res.rows).toBe(rows);
        });

        // The whole file joined with the same predictions, in row order.
        const wholePredictions: string[] = [];
        for (let g = 0; g < rows; g++)
          if (!skipped.has(g)) wholePredictions.push(`${g},${predictionFor(g)},in.csv\n`);
        const whole = await collect(async (out, errs) => {
          await joinPredictions(
            iterate(chunksOf(input, 4096)),
            iterate([Buffer.from(wholePredictions.join(''))]),
            out,
            {
              errors: errs,
              missingReason: 'skipped',
            },
          );
        });
        expect(skipped.size).toBeGreaterThan(10);
        expect(split.out).toBe(whole.out);
        expect(split.errors).toBe(whole.errors);
        expect(split.errors.split('\n').length).toBeGreaterThan(10);
      }
    });
  }
});

function predictionFor(row: number): string {
  return row % 7 === 0 ? `"[${row}, 1]"` : String(row * 0.5);
}

function shuffle<T>(a: T[], r: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
}

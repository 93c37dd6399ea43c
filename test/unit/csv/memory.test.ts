import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { joinPredictions, validateCsvStream } from '../../../src/domain/csv';
import { DIAMONDS_HEADER, diamondLine, diamondsSchema, rng } from './support';

/**
 * Streams ~200 MB, generated chunk by chunk and never held whole, through validation and the
 * join, and checks that memory stays flat. Memory is measured, not time: every ~16 MB the test
 * forces a garbage collection and records what is still live, on the JS heap (heapUsed) and in
 * Buffers (arrayBuffers, where a kept chunk would show). Holding the input would need > 200 MB.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOTAL = 200 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** One chunk worth of complete data lines, and how many lines it holds. */
function template(): { block: Buffer; lines: number } {
  const r = rng(77);
  const lines: string[] = [];
  let size = 0;
  while (size < CHUNK - 100) {
    const line = `${diamondLine(r)}\n`;
    lines.push(line);
    size += line.length;
  }
  return { block: Buffer.from(lines.join('')), lines: lines.length };
}

const { block, lines: linesPerBlock } = template();
const BLOCKS = Math.ceil(TOTAL / block.length);
const ROWS = BLOCKS * linesPerBlock;

/**
 * The input: a header, then BLOCKS fresh copies of the block (like a stream's new buffers),
 * measuring live memory every 16 blocks (~16 MB).
 */
async function* input(mem: LiveMemory): AsyncGenerator<Buffer> {
  yield Buffer.from(`${DIAMONDS_HEADER}\n`);
  for (let i = 0; i < BLOCKS; i++) {
    if (i % 16 === 15) await mem.sample();
    yield Buffer.from(block);
  }
}

/** Azure ML style predictions for ROWS rows (`row,prediction,file`), written as bytes in ~64 KiB chunks. */
async function* predictions(): AsyncGenerator<Buffer> {
  const tail = Buffer.from(',1.25,input.csv\n');
  let row = 0;
  while (row < ROWS) {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let p = 0;
    while (row < ROWS && p + 40 < buf.length) {
      p += buf.write(String(row), p, 'latin1');
      p += tail.copy(buf, p);
      row++;
    }
    yield buf.subarray(0, p);
  }
}

/** Live memory (after a forced GC) relative to the start. */
class LiveMemory {
  private readonly heap0: number;
  private readonly buffers0: number;
  heapPeak = 0;
  buffersPeak = 0;
  samples = 0;

  constructor() {
    gc();
    const m = process.memoryUsage();
    this.heap0 = m.heapUsed;
    this.buffers0 = m.arrayBuffers;
  }

  async sample(): Promise<void> {
    // Buffers' memory is released by a sweeper after the GC: let it run, then collect again.
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const m = process.memoryUsage();
    this.samples++;
    this.heapPeak = Math.max(this.heapPeak, m.heapUsed - this.heap0);
    this.buffersPeak = Math.max(this.buffersPeak, m.arrayBuffers - this.buffers0);
  }
}

const MB = 1024 * 1024;

test('validation of ~200 MB keeps memory flat', async () => {
  const mem = new LiveMemory();
  const rep = await validateCsvStream(input(mem), {
    schema: diamondsSchema,
    maxBytes: 10 * TOTAL,
    maxProblems: 10,
  });
  expect(rep).toMatchObject({ ok: true, rows: ROWS, problemCount: 0 });
  expect(rep.bytes).toBeGreaterThanOrEqual(TOTAL);
  expect(mem.samples).toBeGreaterThan(10);
  expect(mem.heapPeak).toBeLessThan(16 * MB);
  expect(mem.buffersPeak).toBeLessThan(16 * MB);
}, 120_000);

test('the join of ~200 MB keeps memory flat', async () => {
  const mem = new LiveMemory();
  let outBytes = 0;
  const res = await joinPredictions(input(mem), predictions(), (chunk) => {
    outBytes += chunk.length;
  });
  expect(res.rows).toBe(ROWS);
  expect(res.bytes).toBe(outBytes);
  expect(outBytes).toBeGreaterThan(TOTAL);
  expect(mem.samples).toBeGreaterThan(10);
  expect(mem.heapPeak).toBeLessThan(16 * MB);
  expect(mem.buffersPeak).toBeLessThan(16 * MB);
}, 120_000);

test('validation with split of ~200 MB into parts keeps memory flat (each part written as it is read)', async () => {
  const mem = new LiveMemory();
  const written: number[] = [];
  const rep = await validateCsvStream(input(mem), {
    schema: diamondsSchema,
    maxBytes: 10 * TOTAL,
    maxProblems: 10,
    split: {
      rows: Math.ceil(ROWS / 5),
      open: (i) => {
        written[i] = 0;
        return {
          write: async (chunk) => {
            written[i]! += chunk.length;
            await new Promise((resolve) => setImmediate(resolve));
          },
          end: async () => undefined,
          abort: async () => undefined,
        };
      },
    },
  });
  expect(rep).toMatchObject({ ok: true, rows: ROWS });
  expect(rep.parts).toHaveLength(5);
  expect(rep.parts.map((p) => p.bytes)).toEqual(written);
  expect(written.reduce((a, b) => a + b, 0)).toBeGreaterThan(TOTAL);
  expect(mem.samples).toBeGreaterThan(10);
  expect(mem.heapPeak).toBeLessThan(16 * MB);
  expect(mem.buffersPeak).toBeLessThan(16 * MB);
}, 120_000);

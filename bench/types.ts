/** One row of the benchmark table: a figure, its value, and what it is compared with. */
export interface BenchRow {
  figure: string;
  value: number;
  unit: string;
  /** The reference or target, in words (e.g. "csv-parse 28 MB/s", "target < 256 MiB"). */
  compare?: string;
  /** Whether the target is met, where there is one. */
  target?: 'met' | 'missed';
}

export interface BenchContext {
  /** A scratch folder for generated data; removed at the end. */
  scratch: string;
  /** Azurite connection string (started by the runner). */
  connectionString: string;
  /** Sizes are scaled down by `BENCH_SCALE` (e.g. 0.1) for a quick run; 1 is the full benchmark. */
  scale: number;
  log(line: string): void;
}

export type Figure = (ctx: BenchContext) => Promise<BenchRow[]>;

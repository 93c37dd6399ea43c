import {
  diamondsFileExists,
  freeDiskBytes,
  GiB,
  mbps,
  pipelineRun,
  removeDiamondsFile,
  scaled,
  sizeLabel,
  type PipelineRun,
} from '../large/pipeline';
import type { BenchContext, BenchRow, Figure } from '../types';

/**
 * Peak RSS of the process running validate → stage → publish (the real activities, on Azurite) for
 * a 1 GiB and a 4 GiB file: each size in a fresh child process (`bench/large/pipelineChild.ts`). The
 * upload into the inbox is setup and runs in a child of its own before; the predictions file (Azure
 * ML's output) is written by another process too. So the figure is the app's process only: Node,
 * the job record, validation of the streamed download, the copy into the datastore, the join into
 * the outbox. Memory that does not grow with the file shows as the same peak at both sizes.
 */
const LIMIT_MIB = 256;
const FLAT = 0.2;

const mib = (kib: number): number => kib / 1024;

function describe(ctx: BenchContext, size: string, r: PipelineRun): string {
  const p = (kib: number): string => mib(kib).toFixed(0);
  ctx.log(
    `${size}: ${r.rows} rows; validate ${r.validate.seconds.toFixed(1)} s (${mbps(r.inputBytes, r.validate.seconds).toFixed(0)} MB/s), ` +
      `stage ${r.stage.method} ${r.stage.seconds.toFixed(2)} s, AML stand-in ${r.predictions.seconds.toFixed(1)} s ` +
      `(${(r.predictions.bytes / 1e6).toFixed(0)} MB), publish ${r.publish.seconds.toFixed(1)} s (${(r.publish.outputBytes / 1e6).toFixed(0)} MB out); ` +
      `peak RSS MiB: startup ${p(r.startup.peakKiB)}, validate ${p(r.validate.peakKiB)}, stage ${p(r.stage.peakKiB)}, ` +
      `waiting ${p(r.predictions.peakKiB)}, publish ${p(r.publish.peakKiB)} (${r.peakSource}; process.resourceUsage().maxRSS ${p(r.maxRssKiB)})`,
  );
  const staged = r.stage.serverSideFailure
    ? `stage (streamed: server-side failed on Azurite, see copy)`
    : r.stage.serverSideSkipped
      ? `stage (streamed: server-side copy not tried above 1 GiB on Azurite, see copy)`
      : `stage (${r.stage.method})`;
  return (
    `fresh child, ${r.peakSource} per phase: validate ${p(r.validate.peakKiB)}, ${staged} ${p(r.stage.peakKiB)}, ` +
    `publish ${p(r.publish.peakKiB)} MiB (Node + imports alone ${p(r.startup.peakKiB)}); upload and AML stand-in not included`
  );
}

export const memory: Figure = async (ctx) => {
  const rows: BenchRow[] = [];
  const small = scaled(ctx, 1);
  const large = scaled(ctx, 4);

  const a = await pipelineRun(ctx, small);
  const aMiB = mib(a.peakKiB);
  rows.push({
    figure: `memory: peak RSS, ${sizeLabel(small)} file`,
    value: aMiB,
    unit: 'MiB',
    compare: `${describe(ctx, sizeLabel(small), a)}; target < ${LIMIT_MIB} MiB`,
    target: aMiB < LIMIT_MIB ? 'met' : 'missed',
  });

  // The large file: on disk once, then in Azurite as inbox blob, predictions (~0.6×) and output (~1.1×),
  // plus the datastore copy should Azurite not share its blocks: about 4× in storage.
  const need = (diamondsFileExists(ctx, large) ? 0 : large) + 4 * large + GiB;
  const free = await freeDiskBytes(ctx);
  const figure = `memory: peak RSS, ${sizeLabel(large)} file`;
  if (free < need) {
    rows.push({
      figure,
      value: NaN,
      unit: 'MiB',
      compare: `SKIPPED: ${sizeLabel(free)} free on ${ctx.scratch}, about ${sizeLabel(need)} needed; flatness not measured`,
    });
    return rows;
  }
  try {
    const b = await pipelineRun(ctx, large);
    const bMiB = mib(b.peakKiB);
    const growth = bMiB / aMiB - 1;
    rows.push({
      figure,
      value: bMiB,
      unit: 'MiB',
      compare: `${growth >= 0 ? '+' : ''}${(100 * growth).toFixed(0)}% vs ${sizeLabel(small)}; ${describe(ctx, sizeLabel(large), b)}; target < ${LIMIT_MIB} MiB and within ${100 * FLAT}% of ${sizeLabel(small)}`,
      target: bMiB < LIMIT_MIB && Math.abs(growth) <= FLAT ? 'met' : 'missed',
    });
  } finally {
    await removeDiamondsFile(ctx, large);
  }
  return rows;
};

import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { generateDiamondsCsv } from '../csv/validate.bench';
import type { BenchContext } from '../types';
import type {
  CopyRefArgs,
  CopyRefReport,
  PipelineArgs,
  PipelineReport,
  RunNames,
  UploadArgs,
  UploadReport,
} from './protocol';
import { runChild } from './spawn';

/** Shared by the validation, memory and copy figures: generated files, one-off containers, child runs. */

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

/** `gib` GiB times BENCH_SCALE, in bytes. */
export function scaled(ctx: BenchContext, gib: number): number {
  return Math.round(gib * GiB * ctx.scale);
}

/** "1 GiB", "4 GiB", "51 MiB" (a generated file ends on a whole row, just under its nominal size). */
export function sizeLabel(bytes: number): string {
  if (bytes >= 0.995 * GiB) return `${Number((bytes / GiB).toFixed(2))} GiB`;
  return `${Math.round(bytes / MiB)} MiB`;
}

/** 10^6 bytes per second. */
export function mbps(bytes: number, seconds: number): number {
  return bytes / 1e6 / seconds;
}

const files = new Map<string, Promise<string>>();

/** A generated diamonds CSV of `bytes` bytes in the scratch folder, made once per size and reused. */
export function diamondsFile(ctx: BenchContext, bytes: number): Promise<string> {
  const path = join(ctx.scratch, `diamonds-${bytes}.csv`);
  let p = files.get(path);
  if (!p) {
    p = (async () => {
      if (existsSync(path)) return path;
      const t0 = Date.now();
      const written = await generateDiamondsCsv(path, bytes);
      ctx.log(
        `generated ${path} (${(written / 1e6).toFixed(0)} MB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      return path;
    })();
    files.set(path, p);
  }
  return p;
}

export async function removeDiamondsFile(ctx: BenchContext, bytes: number): Promise<void> {
  const path = join(ctx.scratch, `diamonds-${bytes}.csv`);
  files.delete(path);
  await rm(path, { force: true });
}

export function diamondsFileExists(ctx: BenchContext, bytes: number): boolean {
  const path = join(ctx.scratch, `diamonds-${bytes}.csv`);
  return existsSync(path) && statSync(path).size > 0;
}

/** Bytes free for an unprivileged user on the scratch folder's file system (where Azurite keeps its data too). */
export async function freeDiskBytes(ctx: BenchContext): Promise<number> {
  const s = await statfs(ctx.scratch);
  return s.bavail * s.bsize;
}

/**
 * Runs `fn` with containers and a jobs table of its own on the runner's Azurite, then deletes them
 * (Azurite frees the disk space in its own time: its extent GC runs every 10 minutes).
 */
export async function withRun<T>(ctx: BenchContext, fn: (names: RunNames) => Promise<T>): Promise<T> {
  const id = `bench${randomBytes(4).toString('hex')}`;
  const names: RunNames = {
    inbox: `${id}-inbox`,
    outbox: `${id}-outbox`,
    quarantine: `${id}-quarantine`,
    datastore: `${id}-datastore`,
    table: id,
  };
  const service = BlobServiceClient.fromConnectionString(ctx.connectionString);
  const table = TableClient.fromConnectionString(ctx.connectionString, names.table, {
    allowInsecureConnection: true,
  });
  const containers = [names.inbox, names.outbox, names.quarantine, names.datastore];
  try {
    await Promise.all([
      ...containers.map((c) => service.getContainerClient(c).create()),
      table.createTable(),
    ]);
    return await fn(names);
  } finally {
    await Promise.all([
      ...containers.map((c) => service.getContainerClient(c).deleteIfExists()),
      table.deleteTable(),
    ]).catch((err: unknown) => ctx.log(`cleanup of ${id} failed: ${String(err)}`));
  }
}

/** Streams the local file into the inbox from a child process of its own (setup, not measured). */
export async function uploadInput(
  ctx: BenchContext,
  names: RunNames,
  file: string,
  name: string,
): Promise<UploadReport> {
  const up = await runChild<UploadReport>(
    'upload',
    { file, container: names.inbox, name } satisfies UploadArgs,
    ctx,
  );
  ctx.log(
    `uploaded ${sizeLabel(up.bytes)} to the inbox in ${up.seconds.toFixed(1)} s (${mbps(up.bytes, up.seconds).toFixed(0)} MB/s)`,
  );
  return up;
}

export type PipelineRun = PipelineReport & { upload: UploadReport };

const runs = new Map<string, Promise<PipelineRun>>();

/**
 * validate → stage → publish for a generated file of `bytes` bytes, in a fresh child process (see
 * `pipelineChild.ts`); the upload into the inbox runs before it in a child of its own. Run once per
 * size and bench run: the memory and copy figures share the result.
 */
export function pipelineRun(ctx: BenchContext, bytes: number): Promise<PipelineRun> {
  const key = `${ctx.connectionString}|${bytes}`;
  let p = runs.get(key);
  if (!p) {
    p = (async () => {
      const file = await diamondsFile(ctx, bytes);
      return withRun(ctx, async (names) => {
        const blob = 'large/diamonds.csv'; // containers are the run's own
        const upload = await uploadInput(ctx, names, file, blob);
        // Staging copies server-side (same account on the local stack): the app's own path at every size.
        const args: PipelineArgs = { names, blob };
        const report = await runChild<PipelineReport>('pipeline', args, ctx);
        return { ...report, upload };
      });
    })();
    runs.set(key, p);
    p.catch(() => runs.delete(key));
  }
  return p;
}

/** The copy references for the same file, measured in one fresh child (see `copyref` in the child). */
export async function copyReference(
  ctx: BenchContext,
  bytes: number,
  passes: number,
): Promise<CopyRefReport> {
  const file = await diamondsFile(ctx, bytes);
  return withRun(ctx, async (names) => {
    const blob = 'large/diamonds.csv'; // containers are the run's own
    await uploadInput(ctx, names, file, blob);
    return runChild<CopyRefReport>('copyref', { names, blob, passes } satisfies CopyRefArgs, ctx);
  });
}

import type { Readable } from 'node:stream';
import { concatSources, splitPredictionsByFile } from '../domain/csv';
import type { Deps } from '../app/deps';
import { BlobSink } from './blobSink';

/** Run files of each input file, in order: `{"<file name>": ["<blob>", ...]}`. */
export type RunsByFile = Record<string, string[]>;

const byFileFolder = (outputPath: string): string => outputPath.replace(/[^/]*$/, 'by-file');
const manifestOf = (outputPath: string): string => `${byFileFolder(outputPath)}/manifest.json`;

/**
 * Splits a folder job's one output file by `file_name`, in one streaming pass, into run files
 * `<output folder>/by-file/<file>/<seq>.csv` (one writer open at a time: bounded memory whatever the
 * order AML wrote in), and records which runs belong to which file in a manifest beside them.
 * Deterministic for a given output, so a retry writes the same blobs.
 */
export async function regroup(
  d: Deps,
  outputPath: string,
  outputEtag: string,
  files: ReadonlySet<string>,
): Promise<{ runs: RunsByFile; rowsByFile: Map<string, number> }> {
  const container = d.settings.aml.datastoreContainer;
  const folder = byFileFolder(outputPath);
  const runs: RunsByFile = {};
  const body = await d.datastore.openRead(container, outputPath, outputEtag);
  const { rowsByFile } = await splitPredictionsByFile(
    body,
    (file, seq) => {
      const name = `${folder}/${file}/${String(seq).padStart(5, '0')}.csv`;
      (runs[file] ??= []).push(name);
      return new BlobSink(d.datastore, container, name);
    },
    { files },
  );
  await d.datastore.putText(container, manifestOf(outputPath), JSON.stringify(runs));
  return { runs, rowsByFile };
}

/** The manifest a batch's regroup wrote (its output at `<prefix>/<batchId>/output/predictions.csv`). */
export async function readManifest(d: Deps, outputPath: string): Promise<RunsByFile> {
  const body = await d.datastore.openRead(d.settings.aml.datastoreContainer, manifestOf(outputPath));
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as RunsByFile;
}

/** One file's predictions: its run files read one after the other. */
export function readRuns(d: Deps, runs: readonly string[]): AsyncIterable<Buffer> {
  const container = d.settings.aml.datastoreContainer;
  return concatSources(runs.map((name) => (): Promise<Readable> => d.datastore.openRead(container, name)));
}

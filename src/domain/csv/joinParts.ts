import { joinPredictions, type JoinOptions, type JoinResult } from './join';
import type { ByteSource } from './source';

/** One part of a file to join: its CSV (with the header) and its predictions. */
export interface JoinPart {
  /** The part's bytes, or a function opening them when the part's turn comes. */
  input: ByteSource | (() => ByteSource | Promise<ByteSource>);
  predictions: ByteSource;
  /** The file line of the part's first data row (`PartInfo.firstLine`); none for a whole file. */
  firstLine?: number;
}

export type JoinPartsOptions = Omit<JoinOptions, 'header' | 'errorsHeader' | 'firstLine' | 'bom'>;

/**
 * Joins a file given as parts, in order (a split file's parts; a whole file is one part), into one
 * output and one errors file, byte-equal to joining the file whole: the output header once (from
 * part 0), the errors header once (by the first part with missing rows), both with part 0's BOM (the
 * file's: later parts have none), and every missing row numbered with its line in the file.
 */
export async function joinParts(
  parts: readonly JoinPart[],
  out: (chunk: Buffer) => Promise<void> | void,
  opts: JoinPartsOptions = {},
): Promise<JoinResult> {
  const total: JoinResult = { rows: 0, failed: 0, bytes: 0, bom: false };
  for (const [k, part] of parts.entries()) {
    const input = typeof part.input === 'function' ? await part.input() : part.input;
    const res = await joinPredictions(input, part.predictions, out, {
      ...opts,
      header: k === 0,
      errorsHeader: total.failed === 0,
      ...(part.firstLine !== undefined ? { firstLine: part.firstLine } : {}),
      ...(k > 0 ? { bom: total.bom } : {}),
    });
    if (k === 0) total.bom = res.bom;
    total.rows += res.rows;
    total.failed += res.failed;
    total.bytes += res.bytes;
  }
  return total;
}

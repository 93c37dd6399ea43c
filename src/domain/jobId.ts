import { createHash } from 'node:crypto';

/**
 * A job is one attempt at one version of one blob: the id is derived from (container, name, ETag,
 * attempt), so the same upload delivered twice is the same job, a new upload of the same name is a
 * new job, and a retry request delivered twice is still one new job.
 *
 * Format: `j<inverted ms timestamp, 13 digits>-<20 hex>`. Ids sort newest first as strings, which
 * makes "newest jobs first" a plain range read in Table Storage, and they contain only characters
 * valid in Durable instance ids, table keys and blob paths.
 */
const MAX_MS = 9_999_999_999_999;

export interface BlobVersion {
  container: string;
  name: string;
  etag: string;
  /** The blob's Last-Modified: part of its version, so the id is deterministic too. */
  lastModified: Date;
  /** 0 (or absent) for the first job of a blob version; n for its n-th retry. */
  attempt?: number;
}

export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

export function deriveJobId(v: BlobVersion): string {
  const attempt = v.attempt ?? 0;
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt must be an integer >= 0`);
  // Attempt 0 hashes exactly what it always did, so ids of existing jobs do not change.
  const key = `${v.container}\n${v.name}\n${normalizeEtag(v.etag)}${attempt ? `\n${attempt}` : ''}`;
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 20);
  const inverted = String(MAX_MS - v.lastModified.getTime()).padStart(13, '0');
  return `j${inverted}-${hash}`;
}

const JOB_ID = /^j\d{13}-[0-9a-f]{20}$/;

export function isJobId(s: string): boolean {
  return JOB_ID.test(s);
}

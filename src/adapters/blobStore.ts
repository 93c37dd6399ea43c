import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type BlobClient,
  type ContainerClient,
} from '@azure/storage-blob';
import { Readable } from 'node:stream';
import type { StorageConnection } from '../config/settings';
import { PipelineError } from '../domain/errors';
import { azureCredential } from './credentials';
import { translateStorageError } from './storageErrors';

export interface BlobInfo {
  etag: string;
  lastModified: Date;
  size: number;
  contentType?: string;
  /** User metadata (`x-ms-meta-*`), keys lower-cased. */
  metadata?: Record<string, string>;
}

export type CopyMethod = 'server-side' | 'streamed';

const UPLOAD_BUFFER = 8 * 1024 * 1024;
const UPLOAD_CONCURRENCY = 4;

/** A blob account, with the few operations the pipeline needs and SDK errors translated at this edge. */
export class BlobStore {
  constructor(readonly service: BlobServiceClient) {}

  static fromConnection(conn: StorageConnection): BlobStore {
    const opts = { retryOptions: { maxTries: 4 } };
    const service =
      conn.kind === 'connectionString'
        ? BlobServiceClient.fromConnectionString(conn.connectionString, opts)
        : new BlobServiceClient(conn.blobServiceUri, azureCredential(conn.clientId), opts);
    return new BlobStore(service);
  }

  container(name: string): ContainerClient {
    return this.service.getContainerClient(name);
  }

  blob(container: string, name: string): BlobClient {
    return this.container(container).getBlobClient(name);
  }

  async ensureContainer(name: string): Promise<void> {
    try {
      await this.container(name).createIfNotExists();
    } catch (err) {
      throw translateStorageError(err, `create container ${name}`);
    }
  }

  async info(container: string, name: string): Promise<BlobInfo> {
    try {
      const p = await this.blob(container, name).getProperties();
      return {
        etag: p.etag ?? '',
        lastModified: p.lastModified ?? new Date(0),
        size: p.contentLength ?? 0,
        ...(p.contentType ? { contentType: p.contentType } : {}),
        ...(p.metadata && Object.keys(p.metadata).length > 0 ? { metadata: lowerKeys(p.metadata) } : {}),
      };
    } catch (err) {
      throw translateStorageError(err, `read properties of ${container}/${name}`);
    }
  }

  async exists(container: string, name: string): Promise<boolean> {
    try {
      return await this.blob(container, name).exists();
    } catch (err) {
      throw translateStorageError(err, `check ${container}/${name}`);
    }
  }

  /**
   * A stream of the blob's bytes, pinned to one version by its ETag when given. The SDK resumes a
   * broken download from where it stopped, so long reads survive transient network faults.
   */
  async openRead(container: string, name: string, etag?: string): Promise<Readable> {
    return (await this.openReadWithInfo(container, name, etag)).body;
  }

  /**
   * The bytes and the properties of one version in one request: Get Blob answers with the same
   * properties and metadata as Get Blob Properties, so no HEAD is needed before a read. A caller that
   * decides from `info` not to read destroys `body`.
   */
  async openReadWithInfo(
    container: string,
    name: string,
    etag?: string,
  ): Promise<{ info: BlobInfo; body: Readable }> {
    try {
      const res = await this.blob(container, name).download(0, undefined, {
        conditions: etag ? { ifMatch: etag } : {},
        maxRetryRequests: 5,
      });
      if (!res.readableStreamBody) throw new Error('no body');
      const info: BlobInfo = {
        etag: res.etag ?? '',
        lastModified: res.lastModified ?? new Date(0),
        size: res.contentLength ?? 0,
        ...(res.contentType ? { contentType: res.contentType } : {}),
        ...(res.metadata && Object.keys(res.metadata).length > 0
          ? { metadata: lowerKeys(res.metadata) }
          : {}),
      };
      return { info, body: res.readableStreamBody as Readable };
    } catch (err) {
      throw translateStorageError(err, `read ${container}/${name}`);
    }
  }

  /**
   * Streams into a block blob with bounded buffers; overwrites, so a repeated write lands the same bytes.
   * A stream that ends within the first buffer goes up in one Put Blob; a longer one as blocks and a
   * block list (Put Block per 8 MiB, then Put Block List), as before.
   */
  async upload(
    container: string,
    name: string,
    source: Readable,
    opts: { contentType?: string; metadata?: Record<string, string> } = {},
  ): Promise<{ etag: string; lastModified: Date }> {
    const client = this.container(container).getBlockBlobClient(name);
    const options = {
      blobHTTPHeaders: { blobContentType: opts.contentType ?? 'text/csv' },
      ...(opts.metadata ? { metadata: opts.metadata } : {}),
    };
    try {
      const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
      const head: Buffer[] = [];
      let size = 0;
      for (;;) {
        const r = await chunks.next();
        if (r.done) {
          const res = await client.upload(Buffer.concat(head, size), size, options);
          return { etag: res.etag ?? '', lastModified: res.lastModified ?? new Date(0) };
        }
        const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
        head.push(chunk);
        size += chunk.length;
        if (size > UPLOAD_BUFFER) break;
      }
      const rest = Readable.from(
        (async function* () {
          yield* head;
          for (let r = await chunks.next(); !r.done; r = await chunks.next()) yield r.value;
        })(),
        { objectMode: false },
      );
      const res = await client.uploadStream(rest, UPLOAD_BUFFER, UPLOAD_CONCURRENCY, options);
      return { etag: res.etag ?? '', lastModified: res.lastModified ?? new Date(0) };
    } catch (err) {
      throw translateStorageError(err, `write ${container}/${name}`);
    }
  }

  async putText(
    container: string,
    name: string,
    text: string,
    contentType = 'application/json',
  ): Promise<void> {
    try {
      await this.container(container)
        .getBlockBlobClient(name)
        .upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: contentType } });
    } catch (err) {
      throw translateStorageError(err, `write ${container}/${name}`);
    }
  }

  /**
   * A read-only URL for one blob that another account can copy from, valid for one hour.
   */
  async readUrl(container: string, name: string): Promise<string> {
    return (await this.sasUrl(container, name, 'r', 60)).url;
  }

  /**
   * A URL a client can create one new blob with and nothing else (create + write: Put Blob, or Put
   * Block and Put Block List; no read, list or delete), valid for `minutes`.
   */
  async uploadUrl(
    container: string,
    name: string,
    minutes: number,
  ): Promise<{ url: string; expiresOn: Date }> {
    return this.sasUrl(container, name, 'cw', minutes);
  }

  /**
   * A SAS URL for one blob: a service SAS signed with the account key when this store has one (local),
   * otherwise a user delegation SAS signed with a key the identity obtains (Azure; needs a Storage
   * Blob Data role, which includes generateUserDelegationKey). Starts 5 minutes back for clock skew.
   */
  private async sasUrl(
    container: string,
    name: string,
    perms: string,
    minutes: number,
  ): Promise<{ url: string; expiresOn: Date }> {
    const blob = this.blob(container, name);
    const startsOn = new Date(Date.now() - 5 * 60_000);
    const expiresOn = new Date(Date.now() + minutes * 60_000);
    const permissions = BlobSASPermissions.parse(perms);
    if (this.service.credential instanceof StorageSharedKeyCredential) {
      return { url: await blob.generateSasUrl({ permissions, startsOn, expiresOn }), expiresOn };
    }
    try {
      const key = await this.service.getUserDelegationKey(startsOn, expiresOn);
      const sas = generateBlobSASQueryParameters(
        { containerName: container, blobName: name, permissions, startsOn, expiresOn },
        key,
        this.service.accountName,
      );
      return { url: `${blob.url}?${sas.toString()}`, expiresOn };
    } catch (err) {
      throw translateStorageError(err, `get a user delegation key for ${this.service.accountName}`);
    }
  }

  async delete(container: string, name: string): Promise<void> {
    try {
      await this.blob(container, name).deleteIfExists();
    } catch (err) {
      throw translateStorageError(err, `delete ${container}/${name}`);
    }
  }

  /**
   * One page of a container's blobs with their versions, in name order. `marker` continues a listing.
   */
  async listPage(
    container: string,
    opts: { maxPageSize: number; marker?: string },
  ): Promise<{ blobs: (BlobInfo & { name: string })[]; marker?: string }> {
    try {
      const page = await this.container(container)
        .listBlobsFlat()
        .byPage({ maxPageSize: opts.maxPageSize, ...(opts.marker ? { continuationToken: opts.marker } : {}) })
        .next();
      if (page.done) return { blobs: [] };
      const blobs = page.value.segment.blobItems.map((b) => ({
        name: b.name,
        etag: b.properties.etag ?? '',
        lastModified: b.properties.lastModified,
        size: b.properties.contentLength ?? 0,
      }));
      return page.value.continuationToken ? { blobs, marker: page.value.continuationToken } : { blobs };
    } catch (err) {
      throw translateStorageError(err, `list ${container}`);
    }
  }

  /**
   * Copies one blob version from `source` into this account. Server-side (the bytes never pass through
   * this process) where the accounts allow it; streamed with bounded buffers otherwise. Repeatable:
   * the destination is overwritten with the same bytes.
   */
  async copyFrom(
    source: BlobStore,
    /** `etag` pins the version to copy; without it, whatever is there (our own immutable staged files). */
    src: { container: string; name: string; etag?: string },
    dst: { container: string; name: string },
  ): Promise<CopyMethod> {
    const target = this.container(dst.container).getBlockBlobClient(dst.name);
    try {
      // Within one account the copy request's own authorization covers the source: no SAS to mint
      // (and Azurite, which reads a SAS-authorized source whole, fails on files over ~512 MiB).
      const sameAccount = source.service.url === this.service.url;
      const url = sameAccount
        ? source.blob(src.container, src.name).url
        : await source.readUrl(src.container, src.name);
      const poller = await target.beginCopyFromURL(
        url,
        src.etag ? { sourceConditions: { ifMatch: src.etag } } : {},
      );
      const result = await poller.pollUntilDone();
      if (result.copyStatus === 'success') return 'server-side';
      throw new PipelineError('StorageUnavailable', `server-side copy ended ${result.copyStatus}`, {
        retryable: true,
      });
    } catch (err) {
      const e = translateStorageError(err, `copy ${src.container}/${src.name}`);
      // A changed or missing source is final. Any other failure (no SAS permission, an emulator's
      // limit, a copy that did not finish) still leaves the streamed copy, which has its own retries.
      if (e.code === 'InputChanged' || e.code === 'InputNotFound') throw e;
    }
    const body = await source.openRead(src.container, src.name, src.etag);
    await this.upload(dst.container, dst.name, body);
    return 'streamed';
  }
}

function lowerKeys(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k.toLowerCase()] = v;
  return out;
}

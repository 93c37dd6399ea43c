import { randomUUID } from 'node:crypto';
import type { BlockBlobClient } from '@azure/storage-blob';

const BLOCK_BYTES = 4 * 1024 * 1024;

/**
 * Writes a block blob from a stream of chunks with bounded memory (one block filling, one uploading).
 * Staged blocks stay invisible until `commit`, so an abandoned write leaves no blob behind. Unlike
 * BlockBlobClient.uploadStream, every request it starts has settled when `write` or `commit` returns or
 * throws, so a job never outlives its emulator with a request still retrying in the background.
 */
export class BlockWriter {
  private readonly prefix = randomUUID();
  private readonly ids: string[] = [];
  /** Ids staged before the last `cut`. */
  private cutAt = 0;
  private parts: Buffer[] = [];
  private size = 0;
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly blob: BlockBlobClient,
    private readonly signal: AbortSignal,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size >= BLOCK_BYTES) await this.stage();
  }

  /**
   * Ends a section of the blob: stages what is pending and returns the ids of the blocks written since
   * the last cut, so `commit` can put sections in another order than they were written.
   */
  async cut(): Promise<string[]> {
    if (this.size > 0) await this.stage();
    const section = this.ids.slice(this.cutAt);
    this.cutAt = this.ids.length;
    return section;
  }

  /**
   * Stages what is left and commits the block list (`order`: every id, in the blob's order; default the
   * order written), refusing to replace a blob that appeared meanwhile.
   */
  async commit(contentType: string, order: readonly string[] = this.ids): Promise<void> {
    if (this.size > 0) await this.stage();
    await this.inFlight;
    await this.blob.commitBlockList([...order], {
      abortSignal: this.signal,
      conditions: { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: contentType },
    });
  }

  /** Waits for the staging request still running, ignoring its outcome (used when giving up). */
  async settle(): Promise<void> {
    await this.inFlight.catch(() => undefined);
  }

  private async stage(): Promise<void> {
    const body = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    // Block ids must all have the same length.
    const id = Buffer.from(`${this.prefix}-${String(this.ids.length).padStart(6, '0')}`).toString('base64');
    this.ids.push(id);
    await this.inFlight;
    const staged = this.blob.stageBlock(id, body, body.length, { abortSignal: this.signal });
    // Observed later (next stage, commit or settle); the no-op handler only stops an "unhandled rejection" meanwhile.
    staged.catch(() => undefined);
    this.inFlight = staged;
  }
}

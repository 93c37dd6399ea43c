import { PassThrough } from 'node:stream';
import type { BlobStore } from '../adapters/blobStore';

/**
 * A blob written as chunks arrive (with backpressure); nothing is written until the first chunk,
 * unless `eager`. `end` commits; `abort` stops (a committed blob stays: callers delete what they must).
 * Ending twice is harmless, so an owner may commit early (parts end as the next one opens).
 */
export class BlobSink {
  private stream: PassThrough | undefined;
  private done: Promise<unknown> | undefined;
  private ended = false;

  constructor(
    private readonly store: BlobStore,
    readonly container: string,
    readonly name: string,
    private readonly metadata?: Record<string, string>,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    const stream = this.open();
    if (stream.write(chunk)) return;
    // An upload that fails stops reading: its error, not a drain that never comes, ends the wait.
    await Promise.race([
      new Promise<void>((r) => stream.once('drain', r)),
      this.done!.then(() => {
        throw new Error(`The upload of ${this.name} ended before its data did`);
      }),
    ]);
  }

  /** Commits; with `empty`, also writes a blob that got no chunk at all. */
  async end(empty = false): Promise<void> {
    if (this.ended) return this.done as Promise<void>;
    this.ended = true;
    if (empty) this.open();
    this.stream?.end();
    await this.done;
  }

  async abort(err: unknown): Promise<void> {
    this.ended = true;
    this.stream?.destroy(err as Error);
    await this.done?.catch(() => undefined);
  }

  private open(): PassThrough {
    if (!this.stream) {
      const stream = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
      this.stream = stream;
      this.done = this.store.upload(
        this.container,
        this.name,
        stream,
        this.metadata ? { metadata: this.metadata } : {},
      );
      // Surfaces through end()/abort(); without this an early upload failure would be unhandled.
      this.done.catch(() => undefined);
    }
    return this.stream;
  }
}

/**
 * Byte ranges collected during a synchronous scan, to be written afterwards with awaits (so a
 * writer's backpressure holds the next read back). Adjacent records of one pushed chunk going to
 * the same target merge into one view of that chunk: a chunk costs a write per target, not per
 * record. Records in the scanner's scratch buffer are copied (it is overwritten by the next push);
 * views of a pushed chunk stay valid because a source never reuses a chunk it has handed out.
 */
export class SegmentQueue<T> {
  private items: { target: T; bytes: Buffer }[] = [];
  private target: T | undefined;
  private buf: Buffer | undefined;
  private start = 0;
  private end = 0;

  /** Queues buf[start, end) for `target`; `scratch`: the bytes must be copied now. */
  add(target: T, buf: Buffer, start: number, end: number, scratch: boolean): void {
    if (buf === this.buf && start === this.end && target === this.target) {
      this.end = end;
      return;
    }
    this.close();
    if (scratch) {
      this.items.push({ target, bytes: Buffer.from(buf.subarray(start, end)) });
      return;
    }
    this.target = target;
    this.buf = buf;
    this.start = start;
    this.end = end;
  }

  /** Queues bytes the caller owns (not merged with anything). */
  addBytes(target: T, bytes: Buffer): void {
    this.close();
    this.items.push({ target, bytes });
  }

  /** The queued writes in order, emptying the queue. */
  take(): { target: T; bytes: Buffer }[] {
    this.close();
    const items = this.items;
    this.items = [];
    return items;
  }

  private close(): void {
    if (this.buf === undefined) return;
    this.items.push({ target: this.target as T, bytes: this.buf.subarray(this.start, this.end) });
    this.buf = undefined;
    this.target = undefined;
  }
}

/** Where parts or runs are written: a stream-like sink the caller awaits for backpressure. */
export interface PartWriter {
  write(chunk: Buffer): Promise<void> | void;
  end(): Promise<void>;
  abort(err: unknown): Promise<void>;
}

/** Anything that yields bytes: an async iterable of chunks or a Node readable stream. */
export type ByteSource = AsyncIterable<Uint8Array | string> | NodeJS.ReadableStream;

/**
 * Iterates a source as Buffers. Breaking out of the loop returns the underlying iterator, which
 * for a Node stream destroys it (so stopping early stops the download).
 */
export async function* bufferChunks(source: ByteSource): AsyncGenerator<Buffer, void, undefined> {
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else if (Buffer.isBuffer(chunk)) yield chunk;
    else yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}

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

/**
 * One source made of several read one after another (e.g. a file's prediction runs, in sequence
 * order), each opened only when the previous one is done.
 */
export async function* concatSources(
  sources: Iterable<ByteSource | (() => ByteSource | Promise<ByteSource>)>,
): AsyncGenerator<Buffer, void, undefined> {
  for (const s of sources) yield* bufferChunks(typeof s === 'function' ? await s() : s);
}

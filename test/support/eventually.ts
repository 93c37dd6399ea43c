/**
 * Waits for something observable instead of sleeping: calls `fn` until it returns without throwing (and, for a
 * getter, with a value that is not undefined), then returns that value. On timeout it rethrows the last failure,
 * so a test that never converges says why.
 */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  opts: { timeoutMs?: number; everyMs?: number; what?: string } = {},
): Promise<Exclude<T, undefined>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const everyMs = opts.everyMs ?? 100;
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v as Exclude<T, undefined>;
      last = new Error('still undefined');
    } catch (err) {
      last = err;
    }
    if (Date.now() >= until) {
      const why = last instanceof Error ? last.message : String(last);
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'a condition'}: ${why}`, {
        cause: last,
      });
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

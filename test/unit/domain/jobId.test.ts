import { deriveJobId, isJobId } from '../../../src/domain/jobId';
import { stagingPaths, outboxName } from '../../../src/domain/amlUris';

const t = new Date('2026-03-04T05:06:07.890Z');

describe('job ids', () => {
  test('the same blob version is the same job; a new version is a new job', () => {
    const a = deriveJobId({ container: 'inbox', name: 'a.csv', etag: '"0x8D1"', lastModified: t });
    expect(deriveJobId({ container: 'inbox', name: 'a.csv', etag: '0x8D1', lastModified: t })).toBe(a);
    expect(deriveJobId({ container: 'inbox', name: 'a.csv', etag: '"0x8D2"', lastModified: t })).not.toBe(a);
    expect(deriveJobId({ container: 'inbox', name: 'b.csv', etag: '"0x8D1"', lastModified: t })).not.toBe(a);
    expect(deriveJobId({ container: 'other', name: 'a.csv', etag: '"0x8D1"', lastModified: t })).not.toBe(a);
  });

  test('ids sort newest first', () => {
    const older = deriveJobId({ container: 'inbox', name: 'a.csv', etag: 'e', lastModified: t });
    const newer = deriveJobId({
      container: 'inbox',
      name: 'a.csv',
      etag: 'e',
      lastModified: new Date(t.getTime() + 1),
    });
    expect(newer < older).toBe(true);
  });

  test('attempt 0 is the id a blob version always had; each retry attempt is its own stable id', () => {
    const v = { container: 'inbox', name: 'a.csv', etag: '"0x8D1"', lastModified: t };
    // Pinned: ids of jobs created before retries existed must not change.
    expect(deriveJobId(v)).toBe('j8227399232109-21598ec027fde5bd109f');
    expect(deriveJobId({ ...v, attempt: 0 })).toBe(deriveJobId(v));
    const first = deriveJobId({ ...v, attempt: 1 });
    expect(first).not.toBe(deriveJobId(v));
    expect(deriveJobId({ ...v, attempt: 1 })).toBe(first);
    expect(deriveJobId({ ...v, attempt: 2 })).not.toBe(first);
    expect(isJobId(first)).toBe(true);
    expect(() => deriveJobId({ ...v, attempt: -1 })).toThrow(RangeError);
  });

  test.each([
    'plain.csv',
    'with space/and folders/deep/x y.csv',
    'ünïcödé/日本語.csv',
    'hash#and%percent?.csv',
    'quote"s and \\ back/slash.csv',
    `${'long-'.repeat(200)}.csv`,
  ])('odd name %p gives a valid instance id, table key and blob paths', (name) => {
    const id = deriveJobId({ container: 'inbox', name, etag: '"x"', lastModified: t });
    expect(isJobId(id)).toBe(true);
    expect(id.length).toBeLessThanOrEqual(100); // Durable instance id limit
    expect(id).not.toMatch(/[/\\#?\u0000-\u001f]/); // forbidden in table keys and instance ids
    const p = stagingPaths('batch-scoring', id, name);
    for (const path of [p.input, p.output]) {
      expect(path).toMatch(/^batch-scoring\/j\d{13}-[0-9a-f]{20}\/(input|output)\/[A-Za-z0-9._-]+$/);
      expect(path.length).toBeLessThan(1024);
    }
    expect(outboxName(name)).toMatch(/_predictions\.csv$/);
  });
});

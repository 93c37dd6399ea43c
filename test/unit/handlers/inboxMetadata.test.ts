import { identifyBlob, versionFromMetadata } from '../../../src/handlers/inbox';

/** Trigger metadata is untrusted: a value counts only when it has the expected type. */
describe('versionFromMetadata', () => {
  const lastModified = '2026-11-25T15:20:01+00:00';
  test.each([
    ['the real host: ETag is {}', { properties: { eTag: {}, lastModified } }],
    ['no properties (blob gone)', { properties: null }],
    ['no metadata at all', undefined],
    ['ETag a number', { properties: { eTag: 42, lastModified } }],
    ['empty ETag', { properties: { eTag: '', lastModified } }],
    ['LastModified not a date', { properties: { eTag: '"0x1"', lastModified: 'yesterday' } }],
    ['LastModified a number', { properties: { eTag: '"0x1"', lastModified: 1764084001000 } }],
  ])('%s → read the blob instead', (_what, metadata) => {
    expect(versionFromMetadata(metadata)).toBeUndefined();
  });

  test('a string ETag with a valid date is used as is', () => {
    expect(versionFromMetadata({ properties: { eTag: '"0x8DE1"', lastModified } })).toEqual({
      etag: '"0x8DE1"',
      lastModified: new Date('2026-11-25T15:20:01Z'),
    });
  });
});

describe('identifyBlob', () => {
  const ref = { connection: 'DataStorage', containerName: 'inbox', blobName: 'a/b.csv' };
  test('a reference names the blob', () => {
    expect(identifyBlob(ref, {}, 'inbox')).toEqual({ container: 'inbox', name: 'a/b.csv' });
  });
  test('bytes: the blob is named by blobTrigger, split at the first slash', () => {
    expect(identifyBlob(Buffer.from('x'), { blobTrigger: 'inbox/a/b c.csv' }, 'inbox')).toEqual({
      container: 'inbox',
      name: 'a/b c.csv',
    });
  });
  test.each([
    [{}, /no usable triggerMetadata.blobTrigger/],
    [{ blobTrigger: 42 }, /no usable/],
    [{ blobTrigger: 'inbox' }, /no usable/],
    [{ blobTrigger: 'inbox/' }, /no usable/],
    [{ blobTrigger: '/x.csv' }, /no usable/],
    [{ blobTrigger: 'other/x.csv' }, /not the inbox/],
  ])('bytes with %p fail clearly', (metadata, message) => {
    expect(() => identifyBlob(Buffer.from('x'), metadata, 'inbox')).toThrow(message);
  });
});

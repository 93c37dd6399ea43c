import { errorProperties, MAX_MESSAGE_CHARS, PipelineError, toErrorInfo } from '../../../src/domain/errors';

describe('errors on records', () => {
  test('a typed error keeps its code and retryable, with a message flattened and bounded', () => {
    const long = `AML rejected the request:\n${'x'.repeat(5000)}`;
    const info = toErrorInfo(new PipelineError('AmlValidation', long));
    expect(info).toMatchObject({ code: 'AmlValidation', retryable: false });
    expect(info.message.length).toBe(MAX_MESSAGE_CHARS);
    expect(info.message).not.toContain('\n');
    expect(info.message.endsWith('…')).toBe(true);
  });

  test('an untyped error is ours: Internal, not retryable, first line only, never the stack', () => {
    const err = new TypeError("Cannot read properties of undefined (reading 'x')\n    at f (a.ts:1:1)");
    const info = toErrorInfo(err);
    expect(info).toEqual({
      code: 'Internal',
      message:
        "Unexpected error: Cannot read properties of undefined (reading 'x') (details are in the logs).",
      retryable: false,
    });
  });

  test('only typed errors carry structured properties across the activity boundary', () => {
    expect(errorProperties(new PipelineError('AmlThrottled', 'slow down', { retryable: true }))).toEqual({
      code: 'AmlThrottled',
      retryable: true,
    });
    expect(errorProperties(new Error('boom'))).toBeUndefined();
  });
});

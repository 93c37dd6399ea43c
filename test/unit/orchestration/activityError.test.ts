import { activityError } from '../../../src/orchestration/activityError';

describe('activityError: a failed activity as the orchestrator receives it', () => {
  const payload = JSON.stringify({
    errorType: 'PipelineError',
    errorMessage: 'Could not reach AML to read job j (ECONNREFUSED).',
    isNonRetriable: false,
    properties: { code: 'AmlUnavailable', retryable: true },
    stackTrace: 'PipelineError: Could not reach AML {with braces} "and quotes"\n    at x (a.ts:1:1)',
  });

  test('legacy hosts: the payload inside Reason and Details text', () => {
    const details = JSON.stringify({ Message: `Result: Failure\nException: ${payload}\nStack: ...` });
    const err = new Error(`Activity function 'checkAmlJobActivity' failed:  ${payload} \n ${details}`);
    expect(activityError(err, 'checkAmlJobActivity')).toEqual({
      code: 'AmlUnavailable',
      message: 'Could not reach AML to read job j (ECONNREFUSED).',
      retryable: true,
    });
  });

  test('an error without a payload (not ours to decode) is named as such, never copied onto the record', () => {
    const err = new Error(
      `Activity function 'x' failed: Result: Failure\nException: boom\nStack: at y (b.js:2:2)`,
    );
    const info = activityError(err, 'x');
    expect(info).toMatchObject({ code: 'Internal', retryable: true });
    expect(info.message).not.toMatch(/boom|Stack|b\.js/);
  });
});

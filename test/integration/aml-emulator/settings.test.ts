import {
  DEFAULT_FAULTS,
  DEFAULT_TIMINGS,
  INSTANT_TIMINGS,
  emulatorOptionsFromEnv,
} from '../../../dev/aml-emulator';
import { parseJobUri } from '../../../dev/aml-emulator/uris';

describe('emulatorOptionsFromEnv', () => {
  test('defaults', () => {
    expect(emulatorOptionsFromEnv({})).toEqual({
      storageConnectionString: 'UseDevelopmentStorage=true',
      timings: DEFAULT_TIMINGS,
      faults: {},
    });
  });

  test('every setting', () => {
    const opts = emulatorOptionsFromEnv({
      AML_EMULATOR_PORT: '0',
      AML_EMULATOR_HOST: '0.0.0.0',
      AML_EMULATOR_STORAGE: 'DefaultEndpointsProtocol=http;AccountName=x',
      AML_EMULATOR_DATASTORES: 'workspaceblobstore=azureml-blobstore-local, other=c2',
      AML_EMULATOR_REQUIRED_TOKEN: 'good',
      AML_EMULATOR_FORBIDDEN_TOKEN: 'norole',
      AML_EMULATOR_DEFAULT_DEPLOYMENT: 'none',
      AML_EMULATOR_WORKSPACE: 'ws1',
      AML_EMULATOR_TIMINGS: 'instant',
      AML_EMULATOR_QUEUED_MS: '250',
      AML_EMULATOR_FAIL_JOBS: 'boom',
      AML_EMULATOR_THROTTLE_RATE: '0.25',
      AML_EMULATOR_UNAVAILABLE_RATE: '0.1',
      AML_EMULATOR_HANG_IN_QUEUED: 'true',
      AML_EMULATOR_SCORING_DELAY_MS_PER_ROW: '5',
      AML_EMULATOR_PLAIN_TEXT_ERRORS: 'false',
      AML_EMULATOR_SEED: '7',
      AML_EMULATOR_MODEL_TIME_SCALE: '0.01',
    });
    expect(opts).toEqual({
      port: 0,
      host: '0.0.0.0',
      storageConnectionString: 'DefaultEndpointsProtocol=http;AccountName=x',
      datastores: { workspaceblobstore: 'azureml-blobstore-local', other: 'c2' },
      requiredToken: 'good',
      forbiddenToken: 'norole',
      defaultDeployment: null,
      workspace: { workspaceName: 'ws1' },
      timings: { ...INSTANT_TIMINGS, queuedMs: 250 },
      modelTimeScale: 0.01,
      faults: {
        failJobs: 'boom',
        throttleRate: 0.25,
        unavailableRate: 0.1,
        hangInQueued: true,
        scoringDelayMsPerRow: 5,
        plainTextErrors: false,
        seed: 7,
      },
    });
    expect(Object.keys(DEFAULT_FAULTS).length).toBe(9);
  });

  test('Event Grid settings', () => {
    expect(
      emulatorOptionsFromEnv({
        AML_EMULATOR_EVENT_GRID_URL: 'http://127.0.0.1:7071/runtime/webhooks/eventgrid?functionName=f',
        AML_EMULATOR_EVENT_GRID_SUBSCRIPTION: 'runs',
        AML_EMULATOR_EVENT_GRID_STATUSES: 'Failed, Completed',
        AML_EMULATOR_EVENT_GRID_FAILURE_EVENTS: 'false',
        AML_EMULATOR_EVENT_GRID_DROP_RATE: '0.1',
        AML_EMULATOR_EVENT_GRID_DUPLICATE_RATE: '0.2',
        AML_EMULATOR_EVENT_GRID_DELAY_MS: '1500',
        AML_EMULATOR_EVENT_GRID_RETRY_SCALE: '0.01',
        AML_EMULATOR_EVENT_GRID_MAX_DELIVERY_ATTEMPTS: '3',
      }).eventGrid,
    ).toEqual({
      url: 'http://127.0.0.1:7071/runtime/webhooks/eventgrid?functionName=f',
      subscriptionName: 'runs',
      statuses: ['Failed', 'Completed'],
      failureEvents: false,
      dropRate: 0.1,
      duplicateRate: 0.2,
      delayMs: 1500,
      retryScale: 0.01,
      maxDeliveryAttempts: 3,
    });
    expect(emulatorOptionsFromEnv({ AML_EMULATOR_EVENT_GRID_STATUSES: 'all' }).eventGrid).toEqual({
      statuses: 'all',
    });
  });

  test.each([
    ['AML_EMULATOR_EVENT_GRID_URL', 'ftp://x'],
    ['AML_EMULATOR_EVENT_GRID_STATUSES', 'Done'],
    ['AML_EMULATOR_EVENT_GRID_DROP_RATE', '2'],
    ['AML_EMULATOR_PORT', 'abc'],
    ['AML_EMULATOR_PORT', '70000'],
    ['AML_EMULATOR_THROTTLE_RATE', '1.5'],
    ['AML_EMULATOR_HANG_IN_QUEUED', 'maybe'],
    ['AML_EMULATOR_TIMINGS', 'slow'],
    ['AML_EMULATOR_QUEUED_MS', '-5'],
    ['AML_EMULATOR_DATASTORES', 'justaname'],
    ['AML_EMULATOR_MODEL_TIME_SCALE', '0'],
  ])('refuses %s=%s naming the problem', (name, value) => {
    expect(() => emulatorOptionsFromEnv({ [name]: value })).toThrow(name);
  });
});

describe('parseJobUri', () => {
  const account = 'http://127.0.0.1:10000/devstoreaccount1';
  test.each([
    [
      'azureml://datastores/workspaceblobstore/paths/a/b.csv',
      { kind: 'datastore', datastore: 'workspaceblobstore', path: 'a/b.csv' },
    ],
    [
      'azureml://subscriptions/s/resourceGroups/rg/workspaces/ws/datastores/ds/paths/x%20y.csv',
      { kind: 'datastore', datastore: 'ds', path: 'x y.csv' },
    ],
    [`${account}/c1/dir/f.csv`, { kind: 'blobUrl', container: 'c1', path: 'dir/f.csv' }],
  ])('%s', (uri, want) => {
    expect(parseJobUri(uri, account)).toEqual(want);
  });

  test.each([
    [
      'azureml:/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/datastores/d/paths/a.csv',
      'InvalidUri',
    ],
    ['azureml://subscriptions/s/resourceGroups/rg/providers/x', 'InvalidUri'],
    ['azureml:diamonds:1', 'UnsupportedByEmulator'],
    ['https://other.blob.core.windows.net/c/a.csv', 'UnsupportedByEmulator'],
    ['azureml://datastores/ds/paths/', 'InvalidUri'],
    ['ftp://x/y.csv', 'InvalidUri'],
  ])('refuses %s', (uri, code) => {
    expect(parseJobUri(uri, account)).toMatchObject({ kind: 'invalid', code });
  });
});

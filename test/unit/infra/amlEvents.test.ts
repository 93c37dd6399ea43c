import { AZD_ENV, bicep, deploy } from './deployment';

/** The optional AML run events subscription (infra/app/aml-events.bicep), from the compiler's dry run. */
const describeIf = bicep ? describe : describe.skip;

describeIf('AML run events (amlEventsEnabled)', () => {
  const settings = (d: ReturnType<typeof deploy>) =>
    d.one('Microsoft.Web/sites/config', '/appsettings').properties as Record<string, string>;

  test('off by default: no topic on the workspace, no subscription, and the app polls alone', () => {
    const d = deploy();
    expect(d.ofType('Microsoft.EventGrid/systemTopics/eventSubscriptions')).toEqual([]);
    expect(d.ofType('Microsoft.EventGrid/systemTopics').map((t) => t.properties?.topicType)).toEqual([
      'Microsoft.Storage.StorageAccounts',
    ]);
    expect(settings(d)).toMatchObject({ AML_EVENTS_ENABLED: 'false', POLL_LEARNED_TIMING: 'true' });
    // The AML job index has its table beside the jobs table either way.
    expect(
      d.ofType('Microsoft.Storage/storageAccounts/tableServices/tables').map((t) => t.name.split('/').pop()),
    ).toContain('jobsAmlJobs');
  });

  test('on: a system topic on the workspace, RunStatusChanged and RunCompleted of the endpoint to amlEventsTrigger', () => {
    const d = deploy(AZD_ENV, { amlEventsEnabled: true });
    const topic = d
      .ofType('Microsoft.EventGrid/systemTopics')
      .find((t) => t.properties?.topicType === 'Microsoft.MachineLearningServices.Workspaces');
    expect(topic?.properties?.source).toMatch(
      new RegExp(
        `/resourceGroups/${AZD_ENV.AML_RESOURCE_GROUP}/providers/Microsoft.MachineLearningServices/workspaces/${AZD_ENV.AML_WORKSPACE_NAME}$`,
        'i',
      ),
    );
    const sub = d.one('Microsoft.EventGrid/systemTopics/eventSubscriptions');
    const p = sub.properties as {
      destination: { endpointType: string; properties: { resourceId: string; maxEventsPerBatch: number } };
      filter: {
        includedEventTypes: string[];
        advancedFilters: { operatorType: string; key: string; values: string[] }[];
      };
    };
    expect(p.destination.endpointType).toBe('AzureFunction');
    expect(p.destination.properties.resourceId).toMatch(
      /\/providers\/Microsoft\.Web\/sites\/[^/]+\/functions\/amlEventsTrigger$/,
    );
    expect(p.filter.includedEventTypes).toEqual([
      'Microsoft.MachineLearningServices.RunStatusChanged',
      'Microsoft.MachineLearningServices.RunCompleted',
    ]);
    // Batch jobs run in an experiment named after the endpoint: the scoring URI's first label.
    expect(p.filter.advancedFilters).toEqual([
      { operatorType: 'StringIn', key: 'data.experimentName', values: ['diamonds-batch'] },
    ]);
    expect(settings(d)).toMatchObject({ AML_EVENTS_ENABLED: 'true' });
  });

  test('a workspace that has a system topic already keeps it: only the subscription is added', () => {
    const d = deploy(AZD_ENV, { amlEventsEnabled: true, amlEventsExistingSystemTopic: 'ws-topic' });
    expect(
      d
        .ofType('Microsoft.EventGrid/systemTopics')
        .some((t) => t.properties?.topicType === 'Microsoft.MachineLearningServices.Workspaces'),
    ).toBe(false);
    expect(d.one('Microsoft.EventGrid/systemTopics/eventSubscriptions').name).toMatch(
      /^ws-topic\/aml-run-status-/,
    );
  });
});

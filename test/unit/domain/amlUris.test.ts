import { datastoreUri, outboxName, stagingPaths } from '../../../src/domain/amlUris';

describe('azureml:// datastore URIs', () => {
  test('short form', () => {
    expect(datastoreUri('workspaceblobstore', 'batch/j1/input/a.csv')).toBe(
      'azureml://datastores/workspaceblobstore/paths/batch/j1/input/a.csv',
    );
  });

  test('long form with workspace coordinates', () => {
    expect(
      datastoreUri('workspaceblobstore', '/x/y.csv', {
        subscriptionId: 'sub',
        resourceGroup: 'rg',
        workspaceName: 'ws',
      }),
    ).toBe(
      'azureml://subscriptions/sub/resourcegroups/rg/workspaces/ws/datastores/workspaceblobstore/paths/x/y.csv',
    );
  });

  test('never the broken azureml:/subscriptions/.../providers/... form', () => {
    for (const ws of [undefined, { subscriptionId: 's', resourceGroup: 'r', workspaceName: 'w' }]) {
      const u = datastoreUri('ds', 'a b/c#d.csv', ws);
      expect(u.startsWith('azureml://')).toBe(true);
      expect(u).not.toMatch(/^azureml:\/[^/]/);
      expect(u).not.toContain('/providers/');
      expect(u).toContain('/paths/a%20b/c%23d.csv');
    }
  });

  test('rejects a datastore name that would break the URI', () => {
    expect(() => datastoreUri('bad/name', 'x')).toThrow(/datastore/);
  });

  test('each job gets its own folder, so output paths never collide', () => {
    expect(stagingPaths('pre', 'j1', 'folder/My File.csv')).toEqual({
      input: 'pre/j1/input/My_File.csv',
      output: 'pre/j1/output/predictions.csv',
    });
    expect(stagingPaths('', 'j2', 'noext')).toEqual({
      input: 'j2/input/noext.csv',
      output: 'j2/output/predictions.csv',
    });
    expect(stagingPaths('p', 'j1', 'a.csv').output).not.toBe(stagingPaths('p', 'j2', 'a.csv').output);
  });

  test('outbox names keep the folder and replace .csv', () => {
    expect(outboxName('2026/jan/sales.CSV')).toBe('2026/jan/sales_predictions.csv');
    expect(outboxName('data.txt')).toBe('data.txt_predictions.csv');
  });
});

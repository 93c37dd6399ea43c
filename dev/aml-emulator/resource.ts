import type { EmulatorJob } from './jobs';
import type { JobSpec } from './request';

export interface Workspace {
  subscriptionId: string;
  resourceGroup: string;
  workspaceName: string;
  endpointName: string;
}

export function jobResourceId(ws: Workspace, name: string): string {
  return `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}/jobs/${name}`;
}

/** The job's `properties.properties` (a string map, as AML jobs have); also the events' runProperties. */
export function jobProperties(ws: Workspace, job: EmulatorJob): Record<string, string> {
  return {
    'azureml.batchrun': 'true',
    'azureml.deploymentname': job.deployment,
    'azureml.endpointname': ws.endpointName,
    // The cost model's figures (round 3 contract), as strings like every AML job property.
    ...(job.modelled
      ? {
          'emulator.modelledWallSeconds': String(job.modelled.wallSeconds),
          'emulator.modelledNodeSeconds': String(job.modelled.nodeSeconds),
          'emulator.miniBatches': String(job.modelled.miniBatches),
        }
      : {}),
  };
}

/** The job resource as POST /jobs and GET /jobs/{name} return it: `name` to poll, `id` ending in it, `properties.status`. */
export function jobResource(ws: Workspace, job: EmulatorJob, spec: JobSpec): Record<string, unknown> {
  const last = job.history[job.history.length - 1]!;
  return {
    id: jobResourceId(ws, job.name),
    name: job.name,
    type: 'Microsoft.MachineLearningServices/workspaces/jobs',
    properties: {
      jobType: 'Pipeline',
      displayName: job.name,
      experimentName: ws.endpointName,
      status: job.status,
      description: null,
      tags: {},
      properties: jobProperties(ws, job),
      inputData: spec.inputData,
      outputData: spec.outputData,
      ...(job.error ? { error: job.error } : {}),
    },
    systemData: { createdAt: job.submittedAt, createdBy: 'aml-emulator', lastModifiedAt: last.at },
  };
}

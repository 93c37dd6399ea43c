/**
 * A local stand-in for an Azure ML batch endpoint (see /work/shared/aml-batch-contract.md and README.md here):
 * POST /jobs scores a CSV from an Azurite "datastore" with the diamond-price model and writes MLflow-style output.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobServiceClient } from '@azure/storage-blob';
import { loadModel } from '../model/predict';
import { checkDeployment, defaultDeploymentSettings, type DeploymentSettings } from './deployments';
import type { ModelParams } from '../model/types';
import { EventGridPublisher, type EventGridSettings } from './eventGrid';
import { Faults, type EmulatorFaults } from './faults';
import { DEFAULT_TIMINGS, JobRunner, checkTimings, type EmulatorJob, type EmulatorTimings } from './jobs';
import type { AmlEmulatorOptions } from './options';
import type { JobSpec } from './request';
import { jobProperties, type Workspace } from './resource';
import { scoreToBlob } from './scorer';
import { createHandler } from './server';
import { JobState } from './state';

export type { AmlEmulatorOptions } from './options';
export type { EmulatorFaults } from './faults';
export type { EmulatorJob, EmulatorTimings, JobStatus } from './jobs';
export { DEFAULT_FAULTS } from './faults';
export { DEFAULT_TIMINGS, INSTANT_TIMINGS } from './jobs';
export { emulatorOptionsFromEnv, ENV_NAMES } from './settings';
export type { DeploymentSettings } from './deployments';
export type { DeliveryRecord, EventGridSettings, GridEvent } from './eventGrid';

export interface AmlEmulator {
  /** e.g. http://127.0.0.1:7072; the scoring URI is `${url}/jobs`. */
  url: string;
  close(): Promise<void>;
  jobs(): EmulatorJob[];
  setFaults(f: Partial<EmulatorFaults>): void;
  setTimings(t: Partial<EmulatorTimings>): void;
  /** Event Grid posting: change settings (e.g. `url` once the receiver listens) and read the deliveries. */
  eventGrid: Pick<EventGridPublisher, 'get' | 'set'>;
}

export const DEFAULT_DATASTORES: Readonly<Record<string, string>> = {
  workspaceblobstore: 'azureml-blobstore-local',
};
export const DEPLOYMENTS = ['diamond-v1', 'diamond-v2'] as const;
export const DEFAULT_DEPLOYMENT = 'diamond-v2';
export const DEFAULT_WORKSPACE: Workspace = {
  subscriptionId: '00000000-0000-0000-0000-000000000000',
  resourceGroup: 'local-rg',
  workspaceName: 'local-ws',
  endpointName: 'local-endpoint',
};

export async function startAmlEmulator(opts: AmlEmulatorOptions): Promise<AmlEmulator> {
  const log = opts.log ?? (() => undefined);
  const datastores = { ...(opts.datastores ?? DEFAULT_DATASTORES) };
  const storeNames = Object.keys(datastores);
  if (storeNames.length === 0) throw new Error('at least one datastore is needed');
  const settings: Record<string, DeploymentSettings> = {};
  for (const d of DEPLOYMENTS) settings[d] = defaultDeploymentSettings(d);
  for (const [name, raw] of Object.entries(opts.deployments ?? {}))
    settings[name] = checkDeployment(name, raw, settings[name]);
  const models: Record<string, ModelParams> = {};
  for (const d of DEPLOYMENTS) models[d] = loadModel(d);
  const deployments: Record<string, ModelParams> = {};
  for (const [name, s] of Object.entries(settings)) deployments[name] = models[s.model]!;
  const defaultDeployment =
    opts.defaultDeployment === null ? undefined : (opts.defaultDeployment ?? DEFAULT_DEPLOYMENT);
  if (defaultDeployment !== undefined && !deployments[defaultDeployment]) {
    throw new Error(`default deployment "${defaultDeployment}" is not one of ${DEPLOYMENTS.join(', ')}`);
  }
  const workspace: Workspace = { ...DEFAULT_WORKSPACE, ...opts.workspace };

  const blobs = BlobServiceClient.fromConnectionString(opts.storageConnectionString);
  try {
    await Promise.all(Object.values(datastores).map((c) => blobs.getContainerClient(c).createIfNotExists()));
  } catch (err) {
    throw new Error(
      `cannot create the datastore containers in ${blobs.url} (is Azurite running?): ${(err as Error).message}`,
    );
  }

  let timings: EmulatorTimings = { ...DEFAULT_TIMINGS, ...checkTimings(opts.timings ?? {}) };
  const faults = new Faults(opts.faults);
  const state = opts.stateContainer ? new JobState(blobs.getContainerClient(opts.stateContainer)) : undefined;
  if (opts.modelTimeScale !== undefined && !(opts.modelTimeScale > 0))
    throw new Error(`modelTimeScale must be a number > 0 (got ${opts.modelTimeScale})`);
  let url = '';
  const eventGrid = new EventGridPublisher(opts.eventGrid ?? {}, workspace, () => url, log);
  const runner = new JobRunner({
    onStatus: (job, status, at) => eventGrid.statusChanged(job, jobProperties(workspace, job), status, at),
    timings: () => timings,
    modelTimeScale: () => opts.modelTimeScale,
    cost: (job) => settings[job.deployment] ?? settings[DEFAULT_DEPLOYMENT]!,
    faults: () => faults.get(),
    log,
    outputExists: (job) =>
      blobs.getContainerClient(job.outputBlob.container).getBlobClient(job.outputBlob.name).exists(),
    ...(state ? { save: (job: EmulatorJob, spec: JobSpec) => state.save(job, spec) } : {}),
    score: async (job, spec, signal, onRow) => {
      const out = spec.output.location;
      const scored = await scoreToBlob({
        input: {
          type: spec.input.type,
          container: blobs.getContainerClient(spec.input.location.container),
          path: spec.input.location.path,
        },
        output: blobs.getContainerClient(out.container).getBlockBlobClient(out.path),
        model: deployments[job.deployment]!,
        deployment: settings[job.deployment]!,
        signal,
        delayMsPerRow: () => faults.get().scoringDelayMsPerRow,
        onRow,
      });
      return scored.modelled;
    },
  });
  // Before listening: a client polling right after a restart finds its job.
  if (state) runner.restore(await state.load());
  const setTimings = (t: Partial<EmulatorTimings>): EmulatorTimings =>
    (timings = { ...timings, ...checkTimings(t) });
  // Without OutputData Azure ML writes under the default datastore; the emulator mimics that layout.
  const defaultStore = datastores.workspaceblobstore !== undefined ? 'workspaceblobstore' : storeNames[0]!;

  const server = createServer(
    createHandler(
      {
        runner,
        faults,
        eventGrid,
        timings: { get: () => ({ ...timings }), set: setTimings },
        auth: {
          ...(opts.requiredToken ? { requiredToken: opts.requiredToken } : {}),
          ...(opts.forbiddenToken ? { forbiddenToken: opts.forbiddenToken } : {}),
        },
        deployments,
        defaultDeployment,
        workspace,
        request: {
          datastores,
          accountUrl: blobs.url,
          workspaceName: workspace.workspaceName,
          defaultOutputUri: (name) =>
            `azureml://datastores/${defaultStore}/paths/azureml/${name}/score/predictions.csv`,
        },
        blobs,
        log,
      },
      () => url,
    ),
  );
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 7072, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  eventGrid.listening();
  log(`AML batch endpoint emulator listening on ${url} (scoring URI ${url}/jobs)`);

  return {
    url,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await runner.close();
      await eventGrid.close();
      server.closeAllConnections();
      await closed;
    },
    jobs: () => runner.list(),
    setFaults: (f) => void faults.set(f),
    setTimings: (t) => void setTimings(t),
    eventGrid: { get: () => eventGrid.get(), set: (s: Partial<EventGridSettings>) => eventGrid.set(s) },
  };
}

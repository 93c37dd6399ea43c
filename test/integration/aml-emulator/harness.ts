import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import {
  startAmlEmulator,
  type AmlEmulator,
  type AmlEmulatorOptions,
  type EmulatorTimings,
} from '../../../dev/aml-emulator';
import { eventually } from '../../support/eventually';
import { testConnectionString, uniqueName } from '../../support/storage';

/** Short but non-zero, so every phase really happens; jobs finish in well under a second. */
export const SHORT: EmulatorTimings = {
  notStartedMs: 20,
  queuedMs: 20,
  preparingMs: 20,
  runningMs: 0,
  finalizingMs: 20,
  cancelMs: 20,
};
export const TOKEN = 'Bearer test-token';
export const SAMPLE_CSV = readFileSync(join(__dirname, '../../../samples/diamonds-sample.csv'), 'utf8');

export interface Harness {
  emu: AmlEmulator;
  container: ContainerClient;
  /** `azureml://datastores/workspaceblobstore/paths/<path>` */
  short(path: string): string;
  long(path: string): string;
  /** A fresh path under this test run, so outputs never collide. */
  path(name: string): string;
  upload(path: string, text: string): Promise<void>;
  submit(inputUri: string, outputUri: string, headers?: Record<string, string>): Promise<Response>;
  post(body: unknown, headers?: Record<string, string>): Promise<Response>;
  get(name: string, headers?: Record<string, string>): Promise<Response>;
  admin(path: string, method?: 'GET' | 'PUT', body?: unknown): Promise<unknown>;
  /** Polls GET /jobs/{name} until the status is one of `statuses`; bounded overall wait, no timing assertion. */
  waitFor(name: string, statuses: string[], timeoutMs?: number): Promise<JobResource>;
  readOutput(path: string): Promise<string>;
  close(): Promise<void>;
}

export interface JobResource {
  id: string;
  name: string;
  properties: { status: string; error?: { code: string; message: string }; [k: string]: unknown };
}

export function jobBody(inputUri: string, outputUri: string): unknown {
  return {
    properties: {
      InputData: { DiamondPricing: { JobInputType: 'UriFile', Uri: inputUri } },
      OutputData: { score: { JobOutputType: 'UriFile', Uri: outputUri } },
    },
  };
}

export async function startHarness(opts: Partial<AmlEmulatorOptions> = {}): Promise<Harness> {
  const containerName = uniqueName('amlemu');
  const emu = await startAmlEmulator({
    port: 0,
    storageConnectionString: testConnectionString(),
    datastores: { workspaceblobstore: containerName },
    timings: SHORT,
    ...opts,
  });
  const container =
    BlobServiceClient.fromConnectionString(testConnectionString()).getContainerClient(containerName);
  const run = uniqueName('run');
  let n = 0;
  const h: Harness = {
    emu,
    container,
    short: (p) => `azureml://datastores/workspaceblobstore/paths/${p}`,
    long: (p) =>
      `azureml://subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/local-rg/workspaces/local-ws/datastores/workspaceblobstore/paths/${p}`,
    path: (name) => `${run}/${++n}/${name}`,
    async upload(path, text) {
      await container.getBlockBlobClient(path).upload(text, Buffer.byteLength(text));
    },
    post: (body, headers = {}) =>
      fetch(`${emu.url}/jobs`, {
        method: 'POST',
        headers: { Authorization: TOKEN, 'Content-Type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    submit: (i, o, headers) => h.post(jobBody(i, o), headers),
    get: (name, headers = {}) =>
      fetch(`${emu.url}/jobs/${name}`, { headers: { Authorization: TOKEN, ...headers } }),
    async admin(path, method = 'GET', body) {
      const res = await fetch(`${emu.url}/_emulator/${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    async waitFor(name, statuses, timeoutMs = 90_000) {
      // A job the emulator does not know fails at once; one in another status is asked again.
      const got = await eventually(
        async (): Promise<{ job: JobResource } | { error: string }> => {
          const res = await h.get(name);
          if (res.status !== 200) return { error: `GET job ${name}: ${res.status} ${await res.text()}` };
          const job = (await res.json()) as JobResource;
          if (statuses.includes(job.properties.status)) return { job };
          throw new Error(`job ${name} still ${job.properties.status}`);
        },
        { timeoutMs, everyMs: 25, what: `job ${name} to be ${statuses.join('/')}` },
      );
      if ('error' in got) throw new Error(got.error);
      return got.job;
    },
    async readOutput(path) {
      return (await container.getBlobClient(path).downloadToBuffer()).toString('utf8');
    },
    close: () => emu.close(),
  };
  return h;
}

/** Submits and expects 2xx; returns the job resource. */
export async function submitOk(
  h: Harness,
  inputUri: string,
  outputUri: string,
  headers?: Record<string, string>,
): Promise<JobResource> {
  const res = await h.submit(inputUri, outputUri, headers);
  if (res.status < 200 || res.status > 299) throw new Error(`submit: ${res.status} ${await res.text()}`);
  return (await res.json()) as JobResource;
}

/** Parses `row,prediction,file_name` lines (no header). */
export function parseOutput(text: string): { row: number; prediction: number; fileName: string }[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const [row, prediction, fileName, ...rest] = line.split(',');
      if (rest.length || fileName === undefined) throw new Error(`bad output line: ${line}`);
      return { row: Number(row), prediction: Number(prediction), fileName };
    });
}

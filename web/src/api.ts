/** Talking to the app's HTTP API: the function key, JSON calls, and uploads with progress. */
import type { JobState } from '../../src/domain/jobRecord';

export interface Problem {
  line: number;
  row?: number;
  column?: string;
  code?: string;
  message: string;
}
export interface Job {
  jobId: string;
  status: JobState;
  sourceContainer: string;
  sourceBlob: string;
  receivedAt: string;
  updatedAt?: string;
  phases: Record<string, string>;
  rowCount?: number;
  byteCount?: number;
  amlJobName?: string;
  amlStatus?: string;
  amlStudioUrl?: string;
  outputBlob?: string;
  rowsScored?: number;
  rowsFailed?: number;
  errorsBlob?: string;
  deployment?: string;
  quarantineBlob?: string;
  batchId?: string;
  attempt?: number;
  retryOf?: string;
  retriedBy?: string;
  cancelRequested?: boolean;
  warnings?: string[];
  amlStatusHistory?: { status: string; since: string }[];
  outage?: { since: string; lastError: { code: string; message: string }; missedChecks: number };
  cancel?: { requestedAt: string; confirmed: boolean; amlAnswer?: string };
  error?: {
    code: string;
    message: string;
    retryable: boolean;
    at?: string;
    problems?: Problem[];
    problemCount?: number;
  };
}
export interface JobPage {
  jobs: Job[];
  nextLink?: string;
}

/** `/api` (or whatever the host's route prefix is): the page lives at `<prefix>/ui`. */
export const apiBase = location.pathname.replace(/\/ui(\/.*)?$/, '') || '/api';

const KEY = 'functionsKey';
let askKey: () => Promise<string> = () => Promise.reject(new Error('No function key'));

/** How the page asks for a key when a call answers 401. */
export function whenKeyNeeded(ask: () => Promise<string>): void {
  askKey = ask;
}

/** A key in the address (`/api/ui?code=...`, how the page is opened in Azure) moves to session storage. */
export function adoptKeyFromAddress(): void {
  const u = new URL(location.href);
  const code = u.searchParams.get('code');
  if (!code) return;
  sessionStorage.setItem(KEY, code);
  u.searchParams.delete('code');
  history.replaceState(history.state, '', u);
}

function keyHeader(): Record<string, string> {
  const k = sessionStorage.getItem(KEY);
  return k ? { 'x-functions-key': k } : {};
}

/** Runs a request; on 401 asks for a key once per attempt and tries again. */
async function withKey<T extends { status: number }>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const r = await send();
    if (r.status !== 401 || attempt >= 3) return r;
    sessionStorage.setItem(KEY, await askKey());
  }
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** `path` is relative to the API base (`/jobs?...`). */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return withKey(() => fetch(apiBase + path, { ...init, headers: { ...keyHeader(), ...init.headers } }));
}

export async function callJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const r = await call(path, init);
  const body = (await r.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  if (!r.ok) throw new ApiError(r.status, body?.error?.message ?? `The app answered ${r.status}.`);
  return body as T;
}

/** The API's `nextLink` is absolute; keep only its query so the call goes to this page's origin. */
export const nextPath = (nextLink: string): string => `/jobs${new URL(nextLink).search}`;

interface Sent {
  status: number;
  text: string;
}

/** XMLHttpRequest, because fetch cannot report upload progress. */
function send(
  method: string,
  url: string,
  body: Blob,
  headers: Record<string, string>,
  progress: (fraction: number) => void,
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    x.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total);
    x.onload = () => resolve({ status: x.status, text: x.responseText });
    x.onerror = () =>
      reject(new Error(`The upload to ${new URL(url, location.href).host} failed (network).`));
    x.send(body);
  });
}

function errorOf(r: Sent): string {
  try {
    return (JSON.parse(r.text) as { error: { message: string } }).error.message;
  } catch {
    return `The server answered ${r.status}.`;
  }
}

/** The host caps request bodies at 100 MB; above this a file goes straight to storage. */
export const DIRECT_UPLOAD_MAX_BYTES = 90 * 1024 * 1024;

export interface Uploaded {
  /** Known at once for a direct upload; for a storage upload the blob trigger starts the job. */
  jobId?: string;
  blob: string;
}

export async function upload(
  file: File,
  progress: (fraction: number) => void,
  directMax = DIRECT_UPLOAD_MAX_BYTES,
): Promise<Uploaded> {
  const name = encodeURIComponent(file.name);
  if (file.size <= directMax) {
    const r = await withKey(() =>
      send(
        'POST',
        `${apiBase}/jobs?name=${name}`,
        file,
        { 'Content-Type': 'text/csv', ...keyHeader() },
        progress,
      ),
    );
    if (r.status !== 202) throw new ApiError(r.status, errorOf(r));
    const body = JSON.parse(r.text) as { jobId: string; blob: string };
    return { jobId: body.jobId, blob: body.blob };
  }
  const grant = await callJson<{ uploadUrl: string; blob: string }>(`/uploads?name=${name}`, {
    method: 'POST',
  });
  // A SAS address: no function key goes to storage.
  const r = await send(
    'PUT',
    grant.uploadUrl,
    file,
    { 'x-ms-blob-type': 'BlockBlob', 'Content-Type': 'text/csv' },
    progress,
  );
  if (r.status !== 201) throw new ApiError(r.status, `Storage refused the upload (${r.status}).`);
  return { blob: grant.blob };
}

import type { TokenCredential } from '@azure/identity';
import type { Settings } from '../config/settings';
import { PipelineError } from '../domain/errors';
import { isAmlStatus, type AmlStatus } from '../domain/amlStatus';
import { azureCredential } from './credentials';

/**
 * The batch endpoint's REST contract (see the repo's aml-batch-contract notes): invoke with
 * `POST <scoringUri>`, monitor with `GET <scoringUri>/<job>`, cancel on the management plane.
 * One attempt per call; the only in-call retry is one for a 429 whose Retry-After is short. Every other
 * transient answer (429, 408, 5xx, network) surfaces at once as a retryable error: the Durable retry
 * policy owns backoff (README, "Who retries what").
 */
export const ML_SCOPE = 'https://ml.azure.com/.default';
export const MANAGEMENT_SCOPE = 'https://management.azure.com/.default';
export const MANAGEMENT_API_VERSION = '2024-04-01';

/** The longest Retry-After worth waiting for inside one call; longer ones go back to the retry policy. */
export const QUICK_RETRY_MAX_MS = 5_000;

export interface AmlJob {
  name: string;
  status: AmlStatus;
  /** Error text the service attached to a failed job, when it did. */
  error?: string;
  /** The job in AML Studio (`properties.interactionEndpoints.Studio.endpoint`), when given. */
  studioUrl?: string;
}

/** What AML said to a cancel request; `requested` is false when none could be sent. */
export interface CancelAnswer {
  requested: boolean;
  answer: string;
}

export interface TokenSource {
  token(scope: string): Promise<string>;
}

export function tokenSource(auth: Settings['aml']['auth'], credential?: TokenCredential): TokenSource {
  if (auth.kind === 'emulator') return { token: async () => auth.token };
  const cred = credential ?? azureCredential(auth.clientId);
  return {
    async token(scope) {
      try {
        const t = await cred.getToken(scope);
        if (!t) throw new Error('no token returned');
        return t.token;
      } catch (err) {
        // Only Entra ID refusing the request (4xx) is final; no answer (the identity endpoint
        // unreachable, 5xx, 429) must not end a job that is waiting on AML.
        const status = (err as { statusCode?: number }).statusCode;
        const refused =
          status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
        throw new PipelineError(
          'AmlAuth',
          `Could not get an Entra ID token for ${scope}. In Azure, check the managed identity ` +
            `(AML_CLIENT_ID); locally, sign in with \`az login\`. ${(err as Error).message.split('\n')[0]}`,
          { cause: err, retryable: !refused },
        );
      }
    },
  };
}

export interface AmlClientOptions {
  scoringUri: string;
  deploymentName?: string;
  managementUri: string;
  workspace?: Settings['aml']['workspace'];
  requestTimeoutMs: number;
  tokens: TokenSource;
  /** Waits before the one quick 429 retry; tests pass a recorder. */
  sleep?: (ms: number) => Promise<void>;
}

interface HttpResult {
  status: number;
  text: string;
  retryAfterMs?: number;
}

function parseRetryAfter(h: string | null): number | undefined {
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: string; code?: string } };
    if (j.error?.message) return j.error.code ? `${j.error.code}: ${j.error.message}` : j.error.message;
  } catch {
    // Some error bodies are not JSON at all; the text itself is the message.
  }
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

export class AmlClient {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: AmlClientOptions) {
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  static fromSettings(aml: Settings['aml'], credential?: TokenCredential): AmlClient {
    return new AmlClient({
      scoringUri: aml.scoringUri,
      ...(aml.deploymentName ? { deploymentName: aml.deploymentName } : {}),
      managementUri: aml.managementUri,
      ...(aml.workspace ? { workspace: aml.workspace } : {}),
      requestTimeoutMs: aml.requestTimeoutMs,
      tokens: tokenSource(aml.auth, credential),
    });
  }

  /**
   * Starts a batch job: one input file, one output file, both `azureml://` datastore URIs. `deployment`
   * (a file's own) is sent as `azureml-model-deployment` instead of the configured one.
   */
  async submit(req: {
    inputUri: string;
    outputUri: string;
    requestId: string;
    deployment?: string;
    /** A folder input: AML scores every `.csv` directly in it, spreading the files over its instances. */
    folder?: boolean;
  }): Promise<AmlJob> {
    const body = {
      properties: {
        InputData: { input: { JobInputType: req.folder ? 'UriFolder' : 'UriFile', Uri: req.inputUri } },
        OutputData: { output: { JobOutputType: 'UriFile', Uri: req.outputUri } },
      },
    };
    const headers: Record<string, string> = { 'repeatability_request-id': req.requestId };
    const deployment = req.deployment ?? this.o.deploymentName;
    if (deployment) headers['azureml-model-deployment'] = deployment;
    const res = await this.call('POST', this.o.scoringUri, ML_SCOPE, 'submit the batch job', body, headers);
    return this.parseJob(res.text, 'submit');
  }

  async get(jobName: string): Promise<AmlJob> {
    const res = await this.call(
      'GET',
      `${this.o.scoringUri}/${encodeURIComponent(jobName)}`,
      ML_SCOPE,
      `read job ${jobName}`,
    );
    return this.parseJob(res.text, 'status');
  }

  /**
   * Management-plane cancel (a long-running operation: 200/201/202). A refusal (4xx) throws with AML's
   * own text; without workspace coordinates no request can be sent, which the answer says.
   */
  async cancel(jobName: string): Promise<CancelAnswer> {
    const ws = this.o.workspace;
    if (!ws) {
      return {
        requested: false,
        answer:
          'No cancel was sent: AML_SUBSCRIPTION_ID, AML_RESOURCE_GROUP and AML_WORKSPACE_NAME are not all set.',
      };
    }
    const url =
      `${this.o.managementUri}/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}` +
      `/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}/jobs/${encodeURIComponent(jobName)}` +
      `/cancel?api-version=${MANAGEMENT_API_VERSION}`;
    const res = await this.call('POST', url, MANAGEMENT_SCOPE, `cancel job ${jobName}`);
    return { requested: true, answer: `AML accepted the cancel (${res.status}).` };
  }

  private parseJob(text: string, what: string): AmlJob {
    let j: { name?: unknown; id?: unknown; properties?: { status?: unknown; error?: unknown } };
    try {
      j = JSON.parse(text) as typeof j;
    } catch {
      throw new PipelineError(
        'AmlBadResponse',
        `AML ${what} answered 2xx with a body that is not JSON: ${errorText(text)}`,
      );
    }
    const name =
      typeof j.name === 'string' ? j.name : typeof j.id === 'string' ? j.id.split('/').pop() : undefined;
    if (!name) throw new PipelineError('AmlBadResponse', `AML ${what} response has no job name`);
    const status = j.properties?.status;
    if (typeof status !== 'string') {
      throw new PipelineError('AmlUnknownStatus', `AML job ${name} has no status in the ${what} response`);
    }
    if (!isAmlStatus(status)) {
      throw new PipelineError('AmlUnknownStatus', `AML job ${name} has an unknown status "${status}"`);
    }
    const studio = (j.properties as { interactionEndpoints?: { Studio?: { endpoint?: unknown } } })
      ?.interactionEndpoints?.Studio?.endpoint;
    const err = j.properties?.error;
    const error =
      typeof err === 'string'
        ? err
        : err && typeof err === 'object'
          ? String((err as { message?: unknown }).message ?? JSON.stringify(err))
          : undefined;
    return {
      name,
      status,
      ...(error ? { error } : {}),
      ...(typeof studio === 'string' && studio ? { studioUrl: studio } : {}),
    };
  }

  private async call(
    method: 'GET' | 'POST',
    url: string,
    scope: string,
    what: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<HttpResult> {
    try {
      return await this.once(method, url, scope, what, body, extraHeaders);
    } catch (err) {
      const quick =
        err instanceof PipelineError &&
        err.code === 'AmlThrottled' &&
        err.retryAfterMs !== undefined &&
        err.retryAfterMs <= QUICK_RETRY_MAX_MS;
      if (!quick) throw err;
      await this.sleep(err.retryAfterMs!);
      return this.once(method, url, scope, what, body, extraHeaders);
    }
  }

  /** One request: a 2xx answer, or a typed error that says whether to retry. */
  private async once(
    method: 'GET' | 'POST',
    url: string,
    scope: string,
    what: string,
    body: unknown,
    extraHeaders: Record<string, string>,
  ): Promise<HttpResult> {
    const token = await this.o.tokens.token(scope);
    let res: HttpResult;
    try {
      const r = await fetch(url, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...extraHeaders,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.o.requestTimeoutMs),
      });
      const retryAfterMs = parseRetryAfter(r.headers.get('retry-after'));
      res = {
        status: r.status,
        text: await r.text(),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    } catch (err) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new PipelineError('AmlUnavailable', `Could not reach AML to ${what} (${why}).`, {
        retryable: true,
        cause: err,
      });
    }
    if (res.status >= 200 && res.status < 300) return res;
    throw this.translate(res, what);
  }

  private translate(res: HttpResult, what: string): PipelineError {
    const detail = errorText(res.text);
    const ra = res.retryAfterMs !== undefined ? { retryAfterMs: res.retryAfterMs } : {};
    if (res.status === 401) {
      return new PipelineError(
        'AmlAuth',
        `AML refused the token (401) to ${what}. The token must be for https://ml.azure.com (not management.azure.com); keys are not supported. AML said: ${detail}`,
      );
    }
    if (res.status === 403) {
      return new PipelineError(
        'AmlAuth',
        `AML denied access (403) to ${what}. The app's identity needs the "AzureML Data Scientist" role ` +
          '(or a custom role with Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs/write and read) ' +
          `on the workspace. AML said: ${detail}`,
      );
    }
    if (res.status === 404) {
      // On submit a 404 means no endpoint at that address: our configuration, which the setting names.
      const hint = what.startsWith('submit') ? ' Check AML_SCORING_URI.' : '';
      return new PipelineError('AmlNotFound', `AML answered 404 to ${what}: ${detail}${hint}`);
    }
    if (res.status === 429)
      return new PipelineError('AmlThrottled', `AML throttled (429) ${what}`, { retryable: true, ...ra });
    if (res.status === 408 || res.status >= 500) {
      return new PipelineError('AmlUnavailable', `AML answered ${res.status} to ${what}: ${detail}`, {
        retryable: true,
        ...ra,
      });
    }
    return new PipelineError(
      'AmlValidation',
      `AML rejected the request to ${what} (${res.status}): ${detail}`,
    );
  }
}

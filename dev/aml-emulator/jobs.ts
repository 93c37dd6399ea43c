import { JobFailure } from './errors';
import type { EmulatorFaults } from './faults';
import type { JobSpec } from './request';
import { sleep } from './sleep';

export type JobStatus =
  | 'NotStarted'
  | 'Queued'
  | 'Preparing'
  | 'Running'
  | 'Finalizing'
  | 'Completed'
  | 'Failed'
  | 'CancelRequested'
  | 'Canceled';

const TERMINAL: ReadonlySet<JobStatus> = new Set(['Completed', 'Failed', 'Canceled']);

/** How long a job stays in each phase. Running lasts at least `runningMs`, and longer if scoring takes longer. */
export interface EmulatorTimings {
  notStartedMs: number;
  queuedMs: number;
  preparingMs: number;
  runningMs: number;
  finalizingMs: number;
  /** CancelRequested → Canceled. */
  cancelMs: number;
}

export const DEFAULT_TIMINGS: EmulatorTimings = {
  notStartedMs: 500,
  queuedMs: 1000,
  preparingMs: 1000,
  runningMs: 500,
  finalizingMs: 500,
  cancelMs: 500,
};

/** Jobs complete as soon as scoring is done. */
export const INSTANT_TIMINGS: EmulatorTimings = {
  notStartedMs: 0,
  queuedMs: 0,
  preparingMs: 0,
  runningMs: 0,
  finalizingMs: 0,
  cancelMs: 0,
};

/** Checks a partial timings object; `preset: "instant" | "default"` starts from that preset. */
export function checkTimings(input: unknown): Partial<EmulatorTimings> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new Error('timings must be a JSON object');
  const src = input as Record<string, unknown>;
  let out: Partial<EmulatorTimings> = {};
  if (src.preset !== undefined) {
    if (src.preset === 'instant') out = { ...INSTANT_TIMINGS };
    else if (src.preset === 'default') out = { ...DEFAULT_TIMINGS };
    else throw new Error('preset must be "instant" or "default"');
  }
  for (const [k, v] of Object.entries(src)) {
    if (k === 'preset') continue;
    if (!(k in DEFAULT_TIMINGS))
      throw new Error(`unknown timing "${k}" (known: preset, ${Object.keys(DEFAULT_TIMINGS).join(', ')})`);
    if (typeof v !== 'number' || !(v >= 0 && v <= 3_600_000))
      throw new Error(`${k} must be a number of ms from 0 to 3600000`);
    out[k as keyof EmulatorTimings] = v;
  }
  return out;
}

/** What the emulator knows about a submitted job (GET /_emulator/jobs lists these). */
export interface EmulatorJob {
  name: string;
  deployment: string;
  inputUri: string;
  outputUri: string;
  /** Where the output file goes (a UriFolder output gets predictions.csv inside it). */
  outputBlob: { container: string; name: string };
  status: JobStatus;
  /** The `repeatability_request-id` header, recorded only: its semantics are unknown, so nothing is deduplicated. */
  repeatabilityRequestId: string | null;
  submittedAt: string;
  /** Every status the job has had, in order, so tests see phases too short to catch by polling. */
  history: { status: JobStatus; at: string }[];
  rowsScored: number;
  error: { code: string; message: string } | null;
}

export interface JobRunnerDeps {
  timings: () => EmulatorTimings;
  faults: () => EmulatorFaults;
  score: (job: EmulatorJob, spec: JobSpec, signal: AbortSignal, onRow: () => void) => Promise<void>;
  log: (line: string) => void;
}

interface Entry {
  job: EmulatorJob;
  spec: JobSpec;
  abort: AbortController;
  done: Promise<void>;
}

function snapshot(job: EmulatorJob): EmulatorJob {
  return {
    ...job,
    outputBlob: { ...job.outputBlob },
    history: job.history.map((h) => ({ ...h })),
    error: job.error && { ...job.error },
  };
}

/** The jobs and their state machine: NotStarted → Queued → Preparing → Running → Finalizing → Completed. */
export class JobRunner {
  private readonly entries = new Map<string, Entry>();
  private readonly closing = new AbortController();

  constructor(private readonly deps: JobRunnerDeps) {}

  submit(
    name: string,
    deployment: string,
    spec: JobSpec,
    repeatabilityRequestId: string | null,
  ): EmulatorJob {
    const now = new Date().toISOString();
    const job: EmulatorJob = {
      name,
      deployment,
      inputUri: spec.input.uri,
      outputUri: spec.output.uri,
      outputBlob: { container: spec.output.location.container, name: spec.output.location.path },
      status: 'NotStarted',
      repeatabilityRequestId,
      submittedAt: now,
      history: [{ status: 'NotStarted', at: now }],
      rowsScored: 0,
      error: null,
    };
    const first = snapshot(job);
    const entry: Entry = { job, spec, abort: new AbortController(), done: Promise.resolve() };
    this.entries.set(name, entry);
    this.deps.log(`job ${name} submitted (deployment ${deployment}, input ${job.inputUri})`);
    entry.done = this.run(entry);
    return first;
  }

  get(name: string): { job: EmulatorJob; spec: JobSpec } | undefined {
    const e = this.entries.get(name);
    return e && { job: snapshot(e.job), spec: e.spec };
  }

  list(): EmulatorJob[] {
    return [...this.entries.values()].map((e) => snapshot(e.job));
  }

  /** True while a job that has not failed or been canceled targets this output: it will write there. */
  outputReserved(container: string, name: string): boolean {
    for (const { job } of this.entries.values()) {
      if (job.status === 'Failed' || job.status === 'Canceled') continue;
      if (job.outputBlob.container === container && job.outputBlob.name === name) return true;
    }
    return false;
  }

  /** Moves a running job to CancelRequested (then Canceled); a finished job is left as it is. */
  cancel(name: string): EmulatorJob | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    if (!TERMINAL.has(e.job.status) && e.job.status !== 'CancelRequested') {
      this.setStatus(e.job, 'CancelRequested');
      e.abort.abort(new Error('canceled'));
    }
    return snapshot(e.job);
  }

  async close(): Promise<void> {
    this.closing.abort(new Error('emulator closing'));
    for (const e of this.entries.values()) e.abort.abort(new Error('emulator closing'));
    await Promise.all([...this.entries.values()].map((e) => e.done));
  }

  private setStatus(job: EmulatorJob, status: JobStatus): void {
    job.status = status;
    job.history.push({ status, at: new Date().toISOString() });
    this.deps.log(`job ${job.name} ${status}${job.error ? `: ${job.error.message}` : ''}`);
  }

  /**
   * Waits out a phase in short slices, re-reading the timing each time, so PUT /_emulator/timings also
   * shortens or lengthens a phase that has already begun (a test can hold a job in a phase, then release it).
   */
  private async phase(key: keyof EmulatorTimings, signal: AbortSignal, since = Date.now()): Promise<void> {
    for (;;) {
      const left = this.deps.timings()[key] - (Date.now() - since);
      if (left <= 0) return;
      await sleep(Math.min(left, 50), signal);
    }
  }

  private async run(entry: Entry): Promise<void> {
    const { job } = entry;
    const signal = entry.abort.signal;
    try {
      await this.phase('notStartedMs', signal);
      this.setStatus(job, 'Queued');
      await this.phase('queuedMs', signal);
      while (this.deps.faults().hangInQueued) await sleep(20, signal);
      this.setStatus(job, 'Preparing');
      await this.phase('preparingMs', signal);
      this.setStatus(job, 'Running');
      const started = Date.now();
      const injected = this.deps.faults().failJobs;
      if (injected) throw new JobFailure('SystemError', injected);
      await this.deps.score(job, entry.spec, signal, () => job.rowsScored++);
      await this.phase('runningMs', signal, started);
      this.setStatus(job, 'Finalizing');
      await this.phase('finalizingMs', signal);
      this.setStatus(job, 'Completed');
    } catch (err) {
      if (this.closing.signal.aborted) return;
      if (job.status === 'CancelRequested') {
        await this.phase('cancelMs', this.closing.signal).catch(() => undefined);
        if (!this.closing.signal.aborted) this.setStatus(job, 'Canceled');
        return;
      }
      job.error =
        err instanceof JobFailure
          ? { code: err.code, message: err.message }
          : { code: 'SystemError', message: `Unexpected emulator error: ${(err as Error).message}` };
      this.setStatus(job, 'Failed');
    }
  }
}

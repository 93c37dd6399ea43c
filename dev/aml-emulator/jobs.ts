import { modelJob, type CostSettings, type ModelledJob } from './costModel';
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
  /** The cost model's figures once the job is scored (costModel.ts); null before, or for a failed job. */
  modelled: ModelledFigures | null;
}

export interface ModelledFigures {
  wallSeconds: number;
  nodeSeconds: number;
  miniBatches: number;
  startupSeconds: number;
  /** Running → Finalizing in the model. */
  runningSeconds: number;
}

export function modelledFigures(m: ModelledJob): ModelledFigures {
  const at = (status: string): number => m.timeline.find((t) => t.status === status)!.atSeconds;
  return {
    wallSeconds: m.wallSeconds,
    nodeSeconds: m.nodeSeconds,
    miniBatches: m.miniBatches,
    startupSeconds: m.startupSeconds,
    runningSeconds: at('Finalizing') - at('Running'),
  };
}

export interface JobRunnerDeps {
  timings: () => EmulatorTimings;
  faults: () => EmulatorFaults;
  /** Scores the job's input into its output; returns the cost model's account of it. */
  score: (
    job: EmulatorJob,
    spec: JobSpec,
    signal: AbortSignal,
    onRow: () => void,
  ) => Promise<ModelledJob | undefined>;
  /**
   * Real seconds per modelled second, read live; undefined = phases follow `timings`. When set, the
   * phases follow the cost model's timeline of the job's deployment (`cost`), scaled.
   */
  modelTimeScale?: () => number | undefined;
  cost?: (job: EmulatorJob) => CostSettings;
  /** Whether the job's output blob is there: a job resumed in Running after its output was committed is not scored again. */
  outputExists: (job: EmulatorJob) => Promise<boolean>;
  /** Keeps the job where a new emulator finds it (see state.ts); absent = in memory only. */
  save?: (job: EmulatorJob, spec: JobSpec) => Promise<void>;
  log: (line: string) => void;
  /** Every status change, as it happens (Event Grid events). */
  onStatus?: (job: EmulatorJob, status: JobStatus, at: string) => void;
}

interface Entry {
  job: EmulatorJob;
  spec: JobSpec;
  abort: AbortController;
  done: Promise<void>;
  /** The chain of this job's saves, in order. */
  saved: Promise<void>;
}

function snapshot(job: EmulatorJob): EmulatorJob {
  return {
    ...job,
    outputBlob: { ...job.outputBlob },
    history: job.history.map((h) => ({ ...h })),
    error: job.error && { ...job.error },
    modelled: job.modelled && { ...job.modelled },
  };
}

/** When the job entered its current status. */
const since = (job: EmulatorJob): number => Date.parse(job.history[job.history.length - 1]!.at);

/**
 * The jobs and their state machine: NotStarted → Queued → Preparing → Running → Finalizing → Completed.
 * Each phase lasts its timing from the moment the job entered it, so a job resumed by a new emulator
 * (restore) goes on from where it was, and a phase that ran out while no emulator ran ends at once,
 * stamped with the time it ended in the model.
 */
export class JobRunner {
  private readonly entries = new Map<string, Entry>();
  private readonly closing = new AbortController();

  constructor(private readonly deps: JobRunnerDeps) {}

  /** Records the job (saved first, when saving is on, so an accepted job outlives a crash) and starts it. */
  async submit(
    name: string,
    deployment: string,
    spec: JobSpec,
    repeatabilityRequestId: string | null,
  ): Promise<EmulatorJob> {
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
      modelled: null,
    };
    const first = snapshot(job);
    await this.deps.save?.(first, spec);
    this.deps.log(`job ${name} submitted (deployment ${deployment}, input ${job.inputUri})`);
    this.start({ job, spec });
    return first;
  }

  /** Takes over jobs a previous emulator saved; unfinished ones go on from their status. */
  restore(saved: { job: EmulatorJob; spec: JobSpec }[]): void {
    let resumed = 0;
    for (const { job, spec } of saved) {
      if (this.entries.has(job.name)) continue;
      job.modelled ??= null; // saved by an emulator before the cost model
      if (TERMINAL.has(job.status)) {
        this.entries.set(job.name, {
          job,
          spec,
          abort: new AbortController(),
          done: Promise.resolve(),
          saved: Promise.resolve(),
        });
      } else {
        this.start({ job, spec });
        resumed++;
      }
    }
    if (saved.length) this.deps.log(`restored ${saved.length} saved jobs, ${resumed} of them unfinished`);
  }

  private start({ job, spec }: { job: EmulatorJob; spec: JobSpec }): void {
    const entry: Entry = {
      job,
      spec,
      abort: new AbortController(),
      done: Promise.resolve(),
      saved: Promise.resolve(),
    };
    this.entries.set(job.name, entry);
    entry.done = this.run(entry);
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
      this.setStatus(e, 'CancelRequested');
      e.abort.abort(new Error('canceled'));
    }
    return snapshot(e.job);
  }

  /** Stops every job where it is (a new emulator on the same state resumes them) and finishes the saves. */
  async close(): Promise<void> {
    this.closing.abort(new Error('emulator closing'));
    for (const e of this.entries.values()) e.abort.abort(new Error('emulator closing'));
    await Promise.all([...this.entries.values()].map((e) => e.done));
    await Promise.all([...this.entries.values()].map((e) => e.saved));
  }

  private setStatus(entry: Entry, status: JobStatus, at = Date.now()): void {
    const { job } = entry;
    job.status = status;
    const stamp = new Date(at).toISOString();
    job.history.push({ status, at: stamp });
    this.deps.log(`job ${job.name} ${status}${job.error ? `: ${job.error.message}` : ''}`);
    this.deps.onStatus?.(snapshot(job), status, stamp);
    this.save(entry);
  }

  /** Queues a save of the job as it is now; a failed save is logged (the next one writes the whole job again). */
  private save(entry: Entry): void {
    const save = this.deps.save;
    if (!save) return;
    const job = snapshot(entry.job);
    entry.saved = entry.saved.then(() =>
      save(job, entry.spec).catch((err: unknown) =>
        this.deps.log(`job ${job.name}: could not save its state: ${(err as Error).message}`),
      ),
    );
  }

  /**
   * How long a phase lasts: its timing, or, under a model time scale, its span in the cost model's
   * timeline (NotStarted 0, Queued, Preparing = the rest of start-up, Running as modelled for the rows
   * scored, Finalizing) times the scale. Cancel always uses its timing.
   */
  private durationMs(job: EmulatorJob, key: keyof EmulatorTimings): number {
    const scale = this.deps.modelTimeScale?.();
    if (scale === undefined || !this.deps.cost || key === 'cancelMs') return this.deps.timings()[key];
    const cost = this.deps.cost(job);
    const t = modelJob([], cost).timeline;
    const at = (status: string): number => t.find((x) => x.status === status)!.atSeconds;
    const seconds = {
      notStartedMs: at('Queued') - at('NotStarted'),
      queuedMs: at('Preparing') - at('Queued'),
      preparingMs: at('Running') - at('Preparing'),
      runningMs: job.modelled?.runningSeconds ?? 0,
      finalizingMs: cost.finalizingSeconds ?? 0,
    }[key];
    return seconds * scale * 1000;
  }

  /**
   * Waits out a phase that began at `start`, in short slices, re-reading the timing each time, so
   * PUT /_emulator/timings also shortens or lengthens a phase that has already begun (a test can hold a
   * job in a phase, then release it). Returns when the phase ends in the model.
   */
  private async phase(
    job: EmulatorJob,
    key: keyof EmulatorTimings,
    signal: AbortSignal,
    start: number,
  ): Promise<number> {
    for (;;) {
      const left = this.durationMs(job, key) - (Date.now() - start);
      if (left <= 0) return start + this.durationMs(job, key);
      await sleep(Math.min(left, 50), signal);
    }
  }

  private async run(entry: Entry): Promise<void> {
    const { job } = entry;
    const signal = entry.abort.signal;
    try {
      if (job.status === 'CancelRequested') throw new Error('canceled');
      if (job.status === 'NotStarted') {
        this.setStatus(entry, 'Queued', await this.phase(job, 'notStartedMs', signal, since(job)));
      }
      if (job.status === 'Queued') {
        let end = await this.phase(job, 'queuedMs', signal, since(job));
        if (this.deps.faults().hangInQueued) {
          while (this.deps.faults().hangInQueued) await sleep(20, signal);
          end = Date.now();
        }
        this.setStatus(entry, 'Preparing', end);
      }
      if (job.status === 'Preparing') {
        this.setStatus(entry, 'Running', await this.phase(job, 'preparingMs', signal, since(job)));
      }
      if (job.status === 'Running') {
        const started = since(job);
        const injected = this.deps.faults().failJobs;
        if (injected) throw new JobFailure('SystemError', injected);
        // Output is committed in one step after the last row, so it is either all there or not at all.
        let scored = started;
        if (!(await this.deps.outputExists(job))) {
          job.rowsScored = 0;
          const modelled = await this.deps.score(job, entry.spec, signal, () => job.rowsScored++);
          job.modelled = modelled ? modelledFigures(modelled) : null;
          scored = Date.now();
          this.save(entry);
        }
        this.setStatus(
          entry,
          'Finalizing',
          Math.max(await this.phase(job, 'runningMs', signal, started), scored),
        );
      }
      if (job.status === 'Finalizing') {
        this.setStatus(entry, 'Completed', await this.phase(job, 'finalizingMs', signal, since(job)));
      }
    } catch (err) {
      if (this.closing.signal.aborted) return;
      if (job.status === 'CancelRequested') {
        const end = await this.phase(job, 'cancelMs', this.closing.signal, since(job)).catch(() => undefined);
        if (end !== undefined) this.setStatus(entry, 'Canceled', end);
        return;
      }
      job.error =
        err instanceof JobFailure
          ? { code: err.code, message: err.message }
          : { code: 'SystemError', message: `Unexpected emulator error: ${(err as Error).message}` };
      this.setStatus(entry, 'Failed');
    }
  }
}

/**
 * What the bench runner and `pipelineChild.ts` pass each other: the child gets its mode and a JSON
 * argument on the command line (the storage connection string in BENCH_CONNECTION_STRING) and
 * prints one JSON line on stdout; its stderr is the runner's log.
 */

/** The containers and table of one run, unique to it (created and deleted by the runner). */
export interface RunNames {
  inbox: string;
  outbox: string;
  quarantine: string;
  datastore: string;
  table: string;
}

export interface UploadArgs {
  file: string;
  container: string;
  name: string;
}
export interface UploadReport {
  bytes: number;
  seconds: number;
}

export interface PipelineArgs {
  names: RunNames;
  /** The inbox blob to run the job for. */
  blob: string;
  /**
   * Set (to the reason) to go straight to copyFrom's streamed path instead of letting validateAndStage
   * try a server-side copy first: on Azurite that attempt fails above ~512 MiB and, at 4 GiB, took the
   * emulator down with it in a trial run.
   */
  skipServerSideCopy?: string;
}

/** Wall time and CPU of one phase. */
export interface PhaseTiming {
  seconds: number;
  /** CPU (user + system) of the measuring process. */
  cpuSeconds: number;
  /** Busy CPU of the whole machine (all processes, Azurite included), from /proc/stat; absent elsewhere. */
  machineCpuSeconds?: number;
}

/** Peak RSS in KiB: the kernel's high-water mark for this process (VmHWM), per phase. */
export interface PipelineReport {
  /** Where the peaks come from: `VmHWM` (reset per phase) or `maxRSS` (cumulative, see the child). */
  peakSource: 'VmHWM' | 'maxRSS';
  /** Peak over the whole child: the largest phase peak. */
  peakKiB: number;
  /** `process.resourceUsage().maxRSS` at the end, for reference (on Linux it includes the parent's RSS at fork). */
  maxRssKiB: number;
  /** CPU cores of the machine (the child, Azurite and the runner share them). */
  cores: number;
  rows: number;
  inputBytes: number;
  /** Node start, imports, settings and clients: the floor every phase starts from. */
  startup: { peakKiB: number };
  /** startJob's record, then validateAndStage up to its copy (info, openRead, validateCsvStream). */
  validate: PhaseTiming & { peakKiB: number };
  /**
   * `BlobStore.copyFrom` inside validateAndStage, and the activity's last record update. When the
   * server-side copy failed (see `serverSideFailure`), the timing is of copyFrom's streamed path,
   * run by the bench in its place so that the rest of the pipeline can be measured.
   */
  stage: PhaseTiming & {
    peakKiB: number;
    method: string;
    serverSideFailure?: { seconds: number; message: string };
    /** Why no server-side copy was tried (PipelineArgs.skipServerSideCopy). */
    serverSideSkipped?: string;
  };
  /** The Azure ML stand-in: predictions written by another process; this one only waits. */
  predictions: { seconds: number; bytes: number; peakKiB: number };
  /** The publishPredictions activity (the join into the outbox). */
  publish: PhaseTiming & { peakKiB: number; outputBytes: number };
}

export interface PredictionsArgs {
  container: string;
  name: string;
  rows: number;
  fileName: string;
}
export interface PredictionsReport {
  bytes: number;
  seconds: number;
}

export interface CopyRefArgs {
  names: RunNames;
  blob: string;
  /** Passes of each kind, alternated: plain, streamed, plain, streamed, ... */
  passes: number;
}
export interface CopyRefReport {
  bytes: number;
  cores: number;
  /** Per pass: a plain SDK download → uploadStream (SDK defaults). */
  plain: PhaseTiming[];
  /** Per pass: `BlobStore.copyFrom` when a server-side copy is not possible (its streamed path). */
  streamed: PhaseTiming[];
  /**
   * A probe, not the app's path: a server-side copy with the source's plain URL (no SAS), which a
   * same-account copy allows. Seconds, or the error.
   */
  sameAccountNoSas: { seconds: number } | { error: string };
}

import { AmlClient } from '../adapters/amlClient';
import { AmlJobIndex } from '../adapters/amlJobIndex';
import { BlobStore } from '../adapters/blobStore';
import { JobTable } from '../adapters/jobTable';
import { settings, type Settings } from '../config/settings';

/** What activities and handlers work with; built once per process from the settings, swapped in tests. */
export interface Deps {
  settings: Settings;
  /** The account with inbox, outbox, quarantine and the jobs table. */
  data: BlobStore;
  /** The AML datastore's account. */
  datastore: BlobStore;
  jobs: JobTable;
  /** AML job name → the orchestration that owns it, for AML's run events (AML_EVENTS_ENABLED). */
  amlJobs: AmlJobIndex;
  aml: AmlClient;
  now(): Date;
}

let current: Deps | undefined;

export function buildDeps(s: Settings): Deps {
  return {
    settings: s,
    data: BlobStore.fromConnection(s.dataStorage),
    datastore: BlobStore.fromConnection(s.aml.datastoreStorage),
    jobs: JobTable.fromConnection(s.dataStorage, s.jobsTable),
    amlJobs: AmlJobIndex.fromConnection(s.dataStorage, s.jobsTable),
    aml: AmlClient.fromSettings(s.aml),
    now: () => new Date(),
  };
}

export function deps(): Deps {
  current ??= buildDeps(settings());
  return current;
}

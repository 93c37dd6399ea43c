import type { ContainerClient } from '@azure/storage-blob';
import type { EmulatorJob } from './jobs';
import type { JobSpec } from './request';

/**
 * The emulator's jobs kept in its own blob container (one JSON blob per job, rewritten on every status
 * change), so an emulator started on the same storage takes over the jobs of the one before, as Azure ML
 * keeps its jobs while a client restarts. One emulator at a time per container.
 */
export class JobState {
  constructor(private readonly container: ContainerClient) {}

  async load(): Promise<{ job: EmulatorJob; spec: JobSpec }[]> {
    await this.container.createIfNotExists();
    const out: { job: EmulatorJob; spec: JobSpec }[] = [];
    for await (const b of this.container.listBlobsFlat()) {
      const text = (await this.container.getBlobClient(b.name).downloadToBuffer()).toString('utf8');
      out.push(JSON.parse(text) as { job: EmulatorJob; spec: JobSpec });
    }
    // Oldest first, as they were submitted.
    return out.sort((a, b) => a.job.submittedAt.localeCompare(b.job.submittedAt));
  }

  async save(job: EmulatorJob, spec: JobSpec): Promise<void> {
    const body = JSON.stringify({ job, spec });
    await this.container
      .getBlockBlobClient(`${job.name}.json`)
      .upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: 'application/json' } });
  }
}

/** Batch job statuses as the service reports them; only the last three are terminal. */
export const AML_STATUSES = [
  'NotStarted',
  'Starting',
  'Provisioning',
  'Preparing',
  'Queued',
  'Running',
  'Finalizing',
  'CancelRequested',
  'Completed',
  'Failed',
  'Canceled',
  'NotResponding',
  'Paused',
  'Unknown',
] as const;
export type AmlStatus = (typeof AML_STATUSES)[number];

export function isAmlStatus(s: string): s is AmlStatus {
  return (AML_STATUSES as readonly string[]).includes(s);
}

/** Statuses in which the job's compute is doing the work (the record shows `Running`). */
export function isAmlRunning(s: AmlStatus): boolean {
  return s === 'Running' || s === 'Finalizing';
}

/** AML has finished with the job: nothing left to cancel. */
export function isAmlTerminal(s: AmlStatus): boolean {
  return s === 'Completed' || s === 'Failed' || s === 'Canceled';
}

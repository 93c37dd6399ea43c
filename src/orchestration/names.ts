/** Function names shared by the registrations and their callers; renaming one renames both. */
export const ORCHESTRATION = {
  scoreJob: 'scoreJobOrchestrator',
  batch: 'batchOrchestrator',
} as const;

export const ACTIVITY = {
  validateAndStage: 'validateAndStageActivity',
  submitAmlJob: 'submitAmlJobActivity',
  checkAmlJob: 'checkAmlJobActivity',
  recordOutage: 'recordOutageActivity',
  cancelAmlJob: 'cancelAmlJobActivity',
  publishPredictions: 'publishPredictionsActivity',
  recordOutcome: 'recordOutcomeActivity',
  joinBatch: 'joinBatchActivity',
  closeBatch: 'closeBatchActivity',
  notifyMembers: 'notifyMembersActivity',
  estimateDuration: 'estimateDurationActivity',
} as const;

/** External event the cancel API raises on a running orchestration. */
export const CANCEL_EVENT = 'CancelRequested';

/** Raised on a batch's orchestration when its head closed early (full), so it stages at once. */
export const BATCH_CLOSE_EVENT = 'BatchClosed';

/** Raised on each member's orchestration when its batch ends (payload: BatchDone). */
export const BATCH_DONE_EVENT = 'BatchDone';

/**
 * External event the AML events function raises on the orchestration that owns an AML job, with
 * `AmlStatusEvent` as data. A hint only: the orchestrator checks AML at once, and polling stays the truth.
 */
export const AML_STATUS_EVENT = 'AmlStatusChanged';

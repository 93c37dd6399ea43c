/** Function names shared by the registrations and their callers; renaming one renames both. */
export const ORCHESTRATION = {
  scoreJob: 'scoreJobOrchestrator',
} as const;

export const ACTIVITY = {
  validateAndStage: 'validateAndStageActivity',
  submitAmlJob: 'submitAmlJobActivity',
  checkAmlJob: 'checkAmlJobActivity',
  recordOutage: 'recordOutageActivity',
  cancelAmlJob: 'cancelAmlJobActivity',
  publishPredictions: 'publishPredictionsActivity',
  recordOutcome: 'recordOutcomeActivity',
} as const;

/** External event the cancel API raises on a running orchestration. */
export const CANCEL_EVENT = 'CancelRequested';

/**
 * The app's entry: importing the registrations is all it does. Follow one CSV through:
 * functions/inboxTrigger → handlers/startJob → orchestration/scoreJob → activities/validateAndStage,
 * submitAmlJob, checkAmlJob (on durable timers), publishPredictions.
 */
import './functions/setup';
import './functions/inboxTrigger';
import './functions/scoreJob';
import './functions/activities';
import './functions/httpApi';
import './functions/reconcile';
import './functions/ui';
import './functions/amlEvents';

import * as df from 'durable-functions';
import { ORCHESTRATION } from '../orchestration/names';
import { batchOrchestrator } from '../orchestration/batch';
import { scoreJobOrchestrator } from '../orchestration/scoreJob';

df.app.orchestration(ORCHESTRATION.scoreJob, scoreJobOrchestrator);
df.app.orchestration(ORCHESTRATION.batch, batchOrchestrator);

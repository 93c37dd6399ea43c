import * as df from 'durable-functions';
import { ORCHESTRATION } from '../orchestration/names';
import { scoreJobOrchestrator } from '../orchestration/scoreJob';

df.app.orchestration(ORCHESTRATION.scoreJob, scoreJobOrchestrator);

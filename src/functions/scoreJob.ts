import * as df from 'durable-functions';
import { ORCHESTRATION } from '../orchestration/names';
import { scoreJobHandler } from '../orchestration/scoreJob';

df.app.orchestration(ORCHESTRATION.scoreJob, scoreJobHandler);

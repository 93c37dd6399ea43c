import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../app/deps';
import { durableOrchestrations } from '../adapters/orchestrations';
import { reconcile } from '../handlers/reconcile';

/**
 * Puts right what lost events and crashes leave behind (see handlers/reconcile.ts). The host runs a
 * timer function as a singleton (one instance at a time across the app) and resolves %RECONCILE_SCHEDULE%
 * from the app settings (NCRONTAB, 6 fields).
 */
app.timer('reconcile', {
  schedule: '%RECONCILE_SCHEDULE%',
  extraInputs: [df.input.durableClient()],
  handler: async (timer: Timer, context: InvocationContext): Promise<void> => {
    const r = await reconcile(deps(), durableOrchestrations(df.getClient(context)));
    context.log(
      `reconcile${timer.isPastDue ? ' (past due)' : ''}: examined ${r.examined}, resumed ${r.resumed.length}, ` +
        `ended ${r.ended.length}, told ${r.told.length}, started ${r.started.length}${r.exhausted ? '; bound reached, the rest waits for the next run' : ''}`,
    );
    for (const f of r.failed) context.warn(`reconcile: ${f.item} failed, next run tries again: ${f.message}`);
    for (const e of r.ended)
      context.warn(`${e.jobId} ended ${e.status}: its orchestration is ${e.runtimeStatus}`);
  },
});

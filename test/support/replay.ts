import { InvocationContext } from '@azure/functions';
import type { OrchestrationHandler } from 'durable-functions';
import type { PipelineError } from '../../src/domain/errors';
import type { ScoreJobInput, StagedFile } from '../../src/orchestration/contracts';
import { EventType, type HistoryEvent } from '../../dev/runtime/durable/history';
import { replayActions, type SimResult } from '../../dev/runtime/durable/memoryHost';

/**
 * What every replay test checks after a simulation: each execution's history, cut before each of its
 * episodes, replays to the very actions that episode asked for (determinism), and nothing the real
 * host would reject was done.
 */
export async function expectDeterministic(
  fn: OrchestrationHandler,
  instanceId: string,
  r: SimResult,
): Promise<void> {
  for (const [x, history] of r.histories.entries()) {
    const starts = history
      .map((e, i) => (e.EventType === EventType.OrchestratorStarted ? i : -1))
      .filter((i) => i >= 0);
    const execInput = JSON.parse(String(history[1]!.Input)) as unknown;
    for (let k = 0; k < starts.length; k++) {
      const end = k + 1 < starts.length ? starts[k + 1]! : history.length;
      const prefix: HistoryEvent[] = history
        .slice(0, end)
        .filter((e) => e.EventType !== EventType.OrchestratorCompleted);
      const again = await replayActions(fn, JSON.parse(JSON.stringify(prefix)), execInput, instanceId);
      expect(JSON.parse(JSON.stringify(again))).toEqual(JSON.parse(JSON.stringify(r.episodeActions[x]![k])));
    }
  }
  expect(r.warnings).toEqual([]);
}

/**
 * A thrown transient error as the orchestrator receives it from the host: durable-functions' own
 * activity wrapper (with the app's exception properties provider) turns the PipelineError into the
 * worker's message, and the extension's TaskActivityShim reports `Activity function '<name>' failed:
 * <message>` as the TaskFailed Reason. The wrapper rewrites the error's message in place: pass a fresh one.
 */
export async function hostReason(name: string, err: PipelineError): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { wrapActivityHandler } = require('durable-functions/lib/src/app') as {
    wrapActivityHandler: (h: () => Promise<never>) => (i: unknown, c: InvocationContext) => Promise<never>;
  };
  const thrown = (await wrapActivityHandler(async () => {
    throw err;
  })(undefined, new InvocationContext()).catch((e: unknown) => e)) as Error;
  return `Activity function '${name}' failed: ${thrown.message}`;
}

/** A file as validateAndStage stages it, under `p/<dir>/` in the datastore. */
export const stagedFile = (dir: string, rows: number): StagedFile => ({
  rows,
  bytes: 100,
  inputPath: `p/${dir}/input/a.csv`,
  outputPath: `p/${dir}/output/predictions.csv`,
  inputUri: `azureml://datastores/ws/paths/p/${dir}/input/a.csv`,
  outputUri: `azureml://datastores/ws/paths/p/${dir}/output/predictions.csv`,
});

/** The input the inbox trigger starts a file's orchestration with (default poll schedule, 24 h deadline). */
export const scoreJobInput = (jobId: string): ScoreJobInput => ({
  jobId,
  source: { container: 'inbox', name: 'a.csv', etag: '"e1"' },
  schedule: { firstDelaySeconds: 30, factor: 1.5, maxDelaySeconds: 300 },
  deadlineSeconds: 24 * 3600,
});

import { ACTIVITY } from '../../src/orchestration/names';
import { scoreJobOrchestrator } from '../../src/orchestration/scoreJob';
import type { ScoreJobInput } from '../../src/orchestration/contracts';
import type { PollSchedule } from '../../src/domain/pollSchedule';
import { simulate } from '../../dev/runtime/durable/memoryHost';
import type { BenchRow, Figure } from '../types';

/**
 * Polling cost in simulated time: the real orchestrator, replayed by the durable-functions engine,
 * against an AML job that completes at a given time. Counts status calls and the delay between the
 * real completion and its detection, for the default schedule and for fixed 10 s and 120 s polling.
 */
const start = new Date('2026-01-01T00:00:00Z');
const SCHEDULES: Record<string, PollSchedule> = {
  'default (30 s ×1.5, cap 300 s)': { firstDelaySeconds: 30, factor: 1.5, maxDelaySeconds: 300 },
  '30 s ×1.5, cap 120 s': { firstDelaySeconds: 30, factor: 1.5, maxDelaySeconds: 120 },
  'fixed 10 s': { firstDelaySeconds: 10, factor: 1, maxDelaySeconds: 10 },
  'fixed 120 s': { firstDelaySeconds: 120, factor: 1, maxDelaySeconds: 120 },
};

/** Status calls and detection delay for one schedule and one AML job duration, in simulated time. */
async function measure(
  schedule: PollSchedule,
  completesAfterSeconds: number,
): Promise<{ calls: number; delay: number }> {
  const input: ScoreJobInput = {
    jobId: 'j1',
    source: { container: 'inbox', name: 'a.csv', etag: '"e"' },
    schedule,
    deadlineSeconds: 24 * 3600,
  };
  let checks = 0;
  let detected = 0;
  const r = await simulate(scoreJobOrchestrator, {
    instanceId: 'j1',
    input,
    start,
    maxEpisodes: 100_000,
    activities: (name, _input, _call, at) => {
      switch (name) {
        case ACTIVITY.validateAndStage:
          return {
            result: {
              ok: true,
              staged: { rows: 1, bytes: 1, inputPath: 'i', outputPath: 'o', inputUri: 'u', outputUri: 'v' },
            },
          };
        case ACTIVITY.submitAmlJob:
          return { result: { ok: true, amlJobName: 'aml', amlStatus: 'NotStarted' } };
        case ACTIVITY.checkAmlJob: {
          checks++;
          const elapsed = (at.getTime() - start.getTime()) / 1000;
          const done = elapsed >= completesAfterSeconds;
          if (done && !detected) detected = elapsed;
          return { result: { ok: true, amlStatus: done ? 'Completed' : 'Running', cancelRequested: false } };
        }
        case ACTIVITY.publishPredictions:
          return { result: { ok: true, outputBlob: 'o', rows: 1 } };
        default:
          return { result: { ok: true } }; // recordOutcome, recordOutage
      }
    },
  });
  if ((r.output as { status?: string }).status !== 'Succeeded')
    throw new Error('the simulated job did not succeed');
  return { calls: checks, delay: detected - completesAfterSeconds };
}

export const polling: Figure = async () => {
  const rows: BenchRow[] = [];
  const results: Record<
    string,
    { at15: { calls: number; delay: number }; meanDelay: number; meanCalls: number }
  > = {};
  // One job of 15 minutes, and jobs completing uniformly between 5 and 25 minutes (every 15 s).
  const spread = Array.from({ length: 81 }, (_, i) => 300 + i * 15);
  for (const [label, schedule] of Object.entries(SCHEDULES)) {
    const at15 = await measure(schedule, 900);
    let sumDelay = 0;
    let sumCalls = 0;
    for (const s of spread) {
      const m = await measure(schedule, s);
      sumDelay += m.delay;
      sumCalls += m.calls;
    }
    results[label] = { at15, meanDelay: sumDelay / spread.length, meanCalls: sumCalls / spread.length };
  }
  const def = results['default (30 s ×1.5, cap 300 s)']!;
  const f10 = results['fixed 10 s']!;
  const f120 = results['fixed 120 s']!;
  for (const [label, r] of Object.entries(results)) {
    rows.push({ figure: `polling ${label}: status calls, 15-min job`, value: r.at15.calls, unit: 'calls' });
    rows.push({ figure: `polling ${label}: detection delay, 15-min job`, value: r.at15.delay, unit: 's' });
    rows.push({
      figure: `polling ${label}: mean calls, jobs of 5–25 min`,
      value: r.meanCalls,
      unit: 'calls',
    });
    rows.push({
      figure: `polling ${label}: mean detection delay, jobs of 5–25 min`,
      value: r.meanDelay,
      unit: 's',
    });
  }
  rows.push({
    figure: 'polling target (15-min job): delay ≤ fixed 120 s, calls ≪ fixed 10 s',
    value: def.at15.delay,
    unit: 's',
    compare: `default ${def.at15.calls} calls / ${def.at15.delay.toFixed(0)} s; fixed 120 s ${f120.at15.calls} / ${f120.at15.delay.toFixed(0)} s; fixed 10 s ${f10.at15.calls} / ${f10.at15.delay.toFixed(0)} s`,
    target: def.at15.delay <= f120.at15.delay && def.at15.calls * 5 <= f10.at15.calls ? 'met' : 'missed',
  });
  return rows;
};

import {
  canTransition,
  JOB_STATES,
  TERMINAL_STATES,
  type JobState,
  withAmlStatus,
} from '../../../src/domain/jobRecord';

describe('record state transitions', () => {
  test('the happy path moves forward one step at a time', () => {
    const path: JobState[] = ['Received', 'Validating', 'Submitted', 'Running', 'Publishing', 'Succeeded'];
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1]!, path[i]!)).toBe(true);
  });

  test('repeating a state is allowed (retries re-write the same facts)', () => {
    for (const s of JOB_STATES) if (!TERMINAL_STATES.has(s)) expect(canTransition(s, s)).toBe(true);
  });

  test('no state moves backwards', () => {
    expect(canTransition('Running', 'Submitted')).toBe(false);
    expect(canTransition('Publishing', 'Validating')).toBe(false);
    expect(canTransition('Submitted', 'Received')).toBe(false);
  });

  test('terminal states are final, even towards another terminal state', () => {
    for (const from of TERMINAL_STATES)
      for (const to of JOB_STATES) expect(canTransition(from, to)).toBe(false);
  });

  test('any live state can end in any terminal state', () => {
    for (const from of JOB_STATES) {
      if (TERMINAL_STATES.has(from)) continue;
      for (const to of TERMINAL_STATES) expect(canTransition(from, to)).toBe(true);
    }
  });
});

describe('AML status history', () => {
  const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

  test('appends a status only when it changes, keeping when each was first seen', () => {
    let h = withAmlStatus(undefined, 'NotStarted', t(0));
    h = withAmlStatus(h, 'Queued', t(30));
    h = withAmlStatus(h, 'Queued', t(75)); // seen again: no new entry, the first sighting stands
    h = withAmlStatus(h, 'Running', t(142));
    expect(h).toEqual([
      { status: 'NotStarted', since: t(0).toISOString() },
      { status: 'Queued', since: t(30).toISOString() },
      { status: 'Running', since: t(142).toISOString() },
    ]);
  });

  test('does not change the history it is given', () => {
    const h = [{ status: 'Queued', since: t(0).toISOString() }];
    withAmlStatus(h, 'Running', t(1));
    expect(h).toHaveLength(1);
  });
});

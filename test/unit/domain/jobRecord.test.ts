import { canTransition, JOB_STATES, TERMINAL_STATES, type JobState } from '../../../src/domain/jobRecord';

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

import { describe as lines, type Row } from '../../../dev/progress';

/** The local progress lines (`npm start`): a batch record prints as a batch, not as a job without an outbox. */
const job = (status: string, extra: Partial<Row> = {}): Row => ({
  partitionKey: 'j820',
  rowKey: 'j8204359409999-a0fbd912f815b151d2f2',
  sourceBlob: 'diamonds-sample.csv',
  status,
  ...extra,
});
const batch = (status: string, extra: Partial<Row> = {}): Row => ({
  partitionKey: 'b820',
  rowKey: 'b8204359409999-a0fbd912f815b151d2f2',
  sourceBlob: 'batch-scoring/b8204359409999-a0fbd912f815b151d2f2/input/',
  rowCount: 120,
  files: JSON.stringify([
    { jobId: 'j1', rows: 70 },
    { jobId: 'j2', rows: 50 },
  ]),
  status,
  ...extra,
});

it('prints a job as it moves, ending with its outbox file', () => {
  expect(lines(job('Received'), undefined)).toEqual(['[job b151d2f2] diamonds-sample.csv: received']);
  const done = job('Succeeded', { outputBlob: 'outbox/diamonds-sample_predictions.csv' });
  expect(lines(done, job('Publishing'))).toEqual([
    '[job b151d2f2] diamonds-sample.csv: Succeeded → outbox/diamonds-sample_predictions.csv',
  ]);
});

it('prints a batch record as a batch: closed, its AML job, and that each file publishes its own output', () => {
  expect(lines(batch('Received'), undefined)).toEqual(['[batch b151d2f2] 2 file(s), 120 rows: closed']);
  expect(lines(batch('Validating'), batch('Received'))).toEqual([
    '[batch b151d2f2] 2 file(s), 120 rows: staging its files in the AML datastore',
  ]);
  expect(lines(batch('Submitted', { amlJobName: 'batchjob-1' }), batch('Validating'))).toEqual([
    '[batch b151d2f2] 2 file(s), 120 rows: submitted as AML job batchjob-1',
  ]);
  expect(lines(batch('Succeeded'), batch('Publishing'))).toEqual([
    "[batch b151d2f2] 2 file(s), 120 rows: Succeeded → each file's own outbox file",
  ]);
});

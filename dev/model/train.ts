/**
 * npm run train-model -- <path to diamonds.csv>
 * Trains diamond-v1 and diamond-v2, writes dev/model/params/*.json, dev/model/metrics.json and
 * samples/diamonds-sample.csv (rows from the held-out split), and prints the held-out metrics.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readLabelledCsv } from './data';
import { PARAMS_DIR } from './predict';
import { trainModels } from './training';
import type { ModelParams } from './types';

export const METRICS_PATH = join(__dirname, 'metrics.json');
export const SAMPLE_PATH = join(__dirname, '..', '..', 'samples', 'diamonds-sample.csv');
const SAMPLE_ROWS = 200;

/** Pretty at the top, one tree per line, so diffs of a retrain stay readable. */
function serialize(p: ModelParams): string {
  if (p.kind !== 'gbm') return JSON.stringify(p, null, 2) + '\n';
  const trees = p.trees.map((t) => '    ' + JSON.stringify(t)).join(',\n');
  return JSON.stringify({ ...p, trees: '@TREES@' }, null, 2).replace('"@TREES@"', `[\n${trees}\n  ]`) + '\n';
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function main(): void {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: npm run train-model -- <path to diamonds.csv>');
    process.exit(2);
  }
  const { columns, rows } = readLabelledCsv(path);
  const result = trainModels(rows);

  mkdirSync(PARAMS_DIR, { recursive: true });
  for (const p of Object.values(result.models))
    writeFileSync(join(PARAMS_DIR, `${p.name}.json`), serialize(p));
  writeFileSync(
    METRICS_PATH,
    JSON.stringify({ dataset: basename(path), rows: rows.length, ...result.metrics }, null, 2) + '\n',
  );

  // The first held-out rows of the shuffle, written back in file order with every original column.
  const picked = result.heldOut.slice(0, SAMPLE_ROWS).sort((a, b) => a - b);
  const lines = [
    columns.join(','),
    ...picked.map((i) => columns.map((c) => csvField(rows[i]!.record[c] ?? '')).join(',')),
  ];
  writeFileSync(SAMPLE_PATH, lines.join('\n') + '\n');

  const m = result.metrics;
  console.log(`${rows.length} rows: ${m.trainRows} train / ${m.heldOutRows} held out (seed ${m.seed})`);
  for (const [name, x] of Object.entries(m.models)) {
    console.log(
      `${name}: held-out R² ${x.r2.toFixed(4)}, MAPE ${x.mapePercent.toFixed(2)}%, RMSE $${x.rmseUsd.toFixed(0)}, MAE $${x.maeUsd.toFixed(0)}`,
    );
  }
}

if (require.main === module) main();

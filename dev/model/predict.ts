import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CATEGORIES,
  type CategoricalColumn,
  type Diamond,
  type GbmParams,
  type LinearParams,
  type ModelParams,
} from './types';

/** Committed parameter files; the emulator loads them from here so a fresh clone works without the data set. */
export const PARAMS_DIR = join(__dirname, 'params');

/** A value the model cannot use. Scoring stops with this instead of inventing a prediction. */
export class FeatureError extends Error {
  constructor(
    readonly column: string,
    message: string,
  ) {
    super(message);
    this.name = 'FeatureError';
  }
}

export type InputRecord = Readonly<Record<string, string | undefined>>;

function category(record: InputRecord, column: CategoricalColumn): number {
  const raw = record[column];
  if (raw === undefined || raw.trim() === '')
    throw new FeatureError(column, `column "${column}" is missing or empty`);
  const values: readonly string[] = CATEGORIES[column];
  const code = values.indexOf(raw.trim());
  if (code < 0) {
    throw new FeatureError(
      column,
      `column "${column}": unknown category "${raw}" (expected one of ${values.join(', ')})`,
    );
  }
  return code;
}

/** Validates and encodes the 4Cs of one input row (column name → text as read from the CSV). */
export function parseDiamond(record: InputRecord): Diamond {
  const raw = record.carat;
  if (raw === undefined || raw.trim() === '')
    throw new FeatureError('carat', 'column "carat" is missing or empty');
  const carat = Number(raw.trim());
  if (!Number.isFinite(carat) || carat <= 0) {
    throw new FeatureError('carat', `column "carat": "${raw}" is not a positive number`);
  }
  return {
    carat,
    cut: category(record, 'cut'),
    color: category(record, 'color'),
    clarity: category(record, 'clarity'),
  };
}

/**
 * One factor of a linear term: `ln_carat`, `ln_carat^k`, `carat`, `<column>=<category>` (one-hot) or
 * `<column>#` (ordinal code). Terms multiply factors with `*`, e.g. `ln_carat*clarity=IF`.
 */
function factor(name: string, d: Diamond): number {
  if (name === 'carat') return d.carat;
  if (name === 'ln_carat') return Math.log(d.carat);
  const pow = /^ln_carat\^(\d+)$/.exec(name);
  if (pow) return Math.log(d.carat) ** Number(pow[1]);
  const ordinal = /^(cut|color|clarity)#$/.exec(name);
  if (ordinal) return d[ordinal[1] as CategoricalColumn];
  const onehot = /^(cut|color|clarity)=(.+)$/.exec(name);
  if (onehot) {
    const column = onehot[1] as CategoricalColumn;
    const code = (CATEGORIES[column] as readonly string[]).indexOf(onehot[2]!);
    if (code < 0) throw new Error(`model term "${name}" names an unknown category`);
    return d[column] === code ? 1 : 0;
  }
  throw new Error(`model term factor "${name}" is not understood`);
}

export function termValue(term: string, d: Diamond): number {
  let v = 1;
  for (const f of term.split('*')) v *= factor(f, d);
  return v;
}

/** The GBM's feature vector; the order matches GbmParams.features. */
export function encodeGbm(d: Diamond): number[] {
  return [d.carat, d.cut, d.color, d.clarity];
}

function linearLogPrice(p: LinearParams, d: Diamond): number {
  let y = p.intercept;
  p.terms.forEach((t, i) => (y += p.coefficients[i]! * termValue(t, d)));
  return y;
}

function gbmLogPrice(p: GbmParams, d: Diamond): number {
  const x = encodeGbm(d);
  let y = p.base;
  for (const tree of p.trees) {
    let node = tree[0]!;
    while (node.length === 4) node = tree[x[node[0]]! <= node[1] ? node[2] : node[3]]!;
    y += node[0];
  }
  return y;
}

export function predictLogPrice(params: ModelParams, d: Diamond): number {
  return params.kind === 'gbm' ? gbmLogPrice(params, d) : linearLogPrice(params, d);
}

/** Predicted price in USD for one input row; throws FeatureError naming the column it cannot use. */
export function predict(params: ModelParams, record: InputRecord): number {
  return Math.exp(predictLogPrice(params, parseDiamond(record)));
}

/** Reads `<dir>/<name>.json` (e.g. diamond-v2). */
export function loadModel(name: string, dir: string = PARAMS_DIR): ModelParams {
  const params = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as ModelParams;
  if (params.kind !== 'gbm' && params.kind !== 'log-linear') {
    throw new Error(
      `${name}.json: unknown model kind ${JSON.stringify((params as { kind?: unknown }).kind)}`,
    );
  }
  return params;
}

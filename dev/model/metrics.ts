import { predictLogPrice } from './predict';
import type { LabelledRow } from './data';
import type { ModelParams } from './types';

export interface Metrics {
  rows: number;
  /** Coefficient of determination on price in USD (not on log price). */
  r2: number;
  /** Mean absolute percentage error of the price, in percent. */
  mapePercent: number;
  rmseUsd: number;
  maeUsd: number;
}

/** Metrics of unrounded predictions; the summation order is fixed so a recomputation matches exactly. */
export function evaluate(params: ModelParams, rows: readonly LabelledRow[]): Metrics {
  if (rows.length === 0) throw new Error('cannot evaluate on zero rows');
  let sumPrice = 0;
  for (const r of rows) sumPrice += r.price;
  const mean = sumPrice / rows.length;
  let ssRes = 0;
  let ssTot = 0;
  let ape = 0;
  let ae = 0;
  for (const r of rows) {
    const err = Math.exp(predictLogPrice(params, r.diamond)) - r.price;
    ssRes += err * err;
    ssTot += (r.price - mean) ** 2;
    ape += Math.abs(err) / r.price;
    ae += Math.abs(err);
  }
  return {
    rows: rows.length,
    r2: 1 - ssRes / ssTot,
    mapePercent: (100 * ape) / rows.length,
    rmseUsd: Math.sqrt(ssRes / rows.length),
    maeUsd: ae / rows.length,
  };
}

import { termValue } from './predict';
import type { LabelledRow } from './data';
import { CATEGORIES, type CategoricalColumn } from './types';

/** One-hot terms of a column, dropping its first (worst) category as the baseline. */
export function oneHot(column: CategoricalColumn): string[] {
  return CATEGORIES[column].slice(1).map((v) => `${column}=${v}`);
}

/** Solves A x = b by Gaussian elimination with partial pivoting (A is small and dense). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    const pivot = m[c]![c]!;
    if (Math.abs(pivot) < 1e-12) throw new Error('normal equations are singular: a term has no variation');
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / pivot;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= m[r]![k]! * x[k]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}

/**
 * Ridge regression of ln(price) on the given terms (intercept not penalised). A small `lambda` only keeps
 * the normal equations well conditioned when a rare category is absent from a small training slice.
 */
export function fitLogLinear(
  rows: readonly LabelledRow[],
  terms: string[],
  lambda: number,
): { intercept: number; coefficients: number[] } {
  const p = terms.length + 1;
  const xtx = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  const xty = new Array<number>(p).fill(0);
  const x = new Array<number>(p);
  for (const r of rows) {
    x[0] = 1;
    terms.forEach((t, i) => (x[i + 1] = termValue(t, r.diamond)));
    const y = Math.log(r.price);
    for (let i = 0; i < p; i++) {
      xty[i]! += x[i]! * y;
      for (let j = 0; j < p; j++) xtx[i]![j]! += x[i]! * x[j]!;
    }
  }
  for (let i = 1; i < p; i++) xtx[i]![i]! += lambda * rows.length;
  const beta = solve(xtx, xty);
  return { intercept: beta[0]!, coefficients: beta.slice(1) };
}

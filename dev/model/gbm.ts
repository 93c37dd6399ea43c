import { encodeGbm } from './predict';
import type { LabelledRow } from './data';
import type { TreeNode } from './types';

export interface GbmOptions {
  rounds: number;
  learningRate: number;
  maxDepth: number;
  /** Fewest training rows in a leaf. */
  minLeaf: number;
  /** L2 shrinkage of leaf values (XGBoost's lambda). */
  l2: number;
}

/** Rounding keeps the committed JSON small; training uses the rounded values so it stays self-consistent. */
const round = (v: number, digits: number): number => Number(v.toFixed(digits));

/**
 * Least-squares gradient boosting on ln(price). Splits are exact: every distinct feature value is a
 * candidate (carat has a few hundred, the ordinal 4Cs fewer than ten), scanned in a fixed order with a
 * strict `>` on gain, so training has no randomness and two runs give identical trees.
 */
export function fitGbm(
  rows: readonly LabelledRow[],
  opts: GbmOptions,
): { base: number; trees: TreeNode[][] } {
  const n = rows.length;
  const x = rows.map((r) => encodeGbm(r.diamond));
  const nFeatures = x[0]?.length ?? 0;
  const uniques: number[][] = [];
  const bins: Int32Array[] = [];
  for (let f = 0; f < nFeatures; f++) {
    const u = [...new Set(x.map((v) => v[f]!))].sort((a, b) => a - b);
    const pos = new Map(u.map((v, i) => [v, i]));
    uniques.push(u);
    bins.push(Int32Array.from(x, (v) => pos.get(v[f]!)!));
  }
  const y = Float64Array.from(rows, (r) => Math.log(r.price));
  const base = round(y.reduce((s, v) => s + v, 0) / n, 6);
  const fit = new Float64Array(n).fill(base);
  const resid = new Float64Array(n);
  const trees: TreeNode[][] = [];

  const build = (idx: Int32Array, depth: number, tree: TreeNode[]): number => {
    const at = tree.length;
    let total = 0;
    for (const i of idx) total += resid[i]!;
    let best = { gain: 1e-12, f: -1, b: -1 };
    if (depth < opts.maxDepth && idx.length >= 2 * opts.minLeaf) {
      const parent = (total * total) / (idx.length + opts.l2);
      for (let f = 0; f < nFeatures; f++) {
        const nb = uniques[f]!.length;
        const sum = new Float64Array(nb);
        const cnt = new Int32Array(nb);
        const bf = bins[f]!;
        for (const i of idx) {
          sum[bf[i]!]! += resid[i]!;
          cnt[bf[i]!]!++;
        }
        let ls = 0;
        let lc = 0;
        for (let b = 0; b < nb - 1; b++) {
          ls += sum[b]!;
          lc += cnt[b]!;
          const rc = idx.length - lc;
          if (lc < opts.minLeaf || rc < opts.minLeaf || cnt[b] === 0) continue;
          const rs = total - ls;
          const gain = (ls * ls) / (lc + opts.l2) + (rs * rs) / (rc + opts.l2) - parent;
          if (gain > best.gain) best = { gain, f, b };
        }
      }
    }
    if (best.f < 0) {
      const value = round((opts.learningRate * total) / (idx.length + opts.l2), 6);
      for (const i of idx) fit[i]! += value;
      tree.push([value]);
      return at;
    }
    const u = uniques[best.f]!;
    const mid = (u[best.b]! + u[best.b + 1]!) / 2;
    const rounded = round(mid, 4);
    const threshold = rounded >= u[best.b]! && rounded < u[best.b + 1]! ? rounded : mid;
    const bf = bins[best.f]!;
    const left = idx.filter((i) => bf[i]! <= best.b);
    const right = idx.filter((i) => bf[i]! > best.b);
    const node: [number, number, number, number] = [best.f, threshold, -1, -1];
    tree.push(node);
    node[2] = build(left, depth + 1, tree);
    node[3] = build(right, depth + 1, tree);
    return at;
  };

  const all = Int32Array.from({ length: n }, (_, i) => i);
  for (let r = 0; r < opts.rounds; r++) {
    for (let i = 0; i < n; i++) resid[i] = y[i]! - fit[i]!;
    const tree: TreeNode[] = [];
    build(all, 0, tree);
    trees.push(tree);
  }
  return { base, trees };
}

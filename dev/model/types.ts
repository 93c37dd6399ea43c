/**
 * Parameter files of the diamond-price models (dev/model/params/*.json). Both models predict ln(price)
 * from the 4Cs only, so any file with carat, cut, color and clarity can be scored; other columns are ignored.
 */

/** Ordered from worst to best, as in the data set; ordinal codes are the index in these lists. */
export const CATEGORIES = {
  cut: ['Fair', 'Good', 'Very Good', 'Premium', 'Ideal'],
  color: ['J', 'I', 'H', 'G', 'F', 'E', 'D'],
  clarity: ['I1', 'SI2', 'SI1', 'VS2', 'VS1', 'VVS2', 'VVS1', 'IF'],
} as const;

export type CategoricalColumn = keyof typeof CATEGORIES;
export const REQUIRED_COLUMNS = ['carat', 'cut', 'color', 'clarity'] as const;

/** The 4Cs of one diamond after validation: carat in ct, the others as ordinal codes. */
export interface Diamond {
  carat: number;
  cut: number;
  color: number;
  clarity: number;
}

interface ModelInfo {
  name: string;
  description: string;
  /** What was used to fit it, so a reader can reproduce it. */
  training: { rows: number; seed: number; trainFraction: number; [k: string]: unknown };
}

/** ln(price) = intercept + Σ coefficient × term; term names are documented in linear.ts. */
export interface LinearParams extends ModelInfo {
  kind: 'log-linear';
  terms: string[];
  intercept: number;
  coefficients: number[];
}

/**
 * A regression tree as a flat node list: an internal node is [featureIndex, threshold, left, right]
 * (go left when value <= threshold), a leaf is [value]. Node 0 is the root.
 */
export type TreeNode = [number, number, number, number] | [number];

/** ln(price) = base + Σ tree(x); features are encoded by `encodeGbm` (carat, then ordinal cut/color/clarity). */
export interface GbmParams extends ModelInfo {
  kind: 'gbm';
  features: string[];
  base: number;
  trees: TreeNode[][];
}

export type ModelParams = LinearParams | GbmParams;

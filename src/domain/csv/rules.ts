import type { ColumnRule } from '../schema';
import type { CsvRecord } from './scanner';

/**
 * Schema rules compiled against a header, checked straight from a record's bytes: numbers are
 * parsed from bytes, enum values compared as bytes, string lengths counted as bytes; a string is
 * only created to phrase a problem (or for the rare value that needs unescaping).
 *
 * Value semantics:
 * - empty means zero characters (a quoted `""` is empty too); for number/integer rules a value of
 *   only spaces/tabs is empty as well. An empty value fails `required`, else it is not checked;
 * - number: optional sign, digits with an optional decimal point, optional exponent
 *   (`12`, `-0.5`, `.5`, `1e3`); spaces/tabs around it are allowed; hex, `Infinity`, `NaN` and
 *   values that overflow to infinity are not numbers;
 * - integer: optional sign and digits only (spaces/tabs around allowed);
 * - min/max are inclusive, except `exclusiveMin` (value must be greater than min);
 * - enum: exact, case-sensitive match, no trimming;
 * - string maxLength: counted in Unicode code points.
 */

const K_NUMBER = 0;
const K_INTEGER = 1;
const K_ENUM = 2;
const K_STRING = 3;

export interface CompiledCheck {
  /** 0-based field index in the record. */
  col: number;
  name: string;
  kind: number;
  required: boolean;
  min: number | undefined;
  max: number | undefined;
  exclusiveMin: boolean;
  /** min/max with -Infinity/Infinity standing for "none". */
  lo: number;
  hi: number;
  maxLength: number | undefined;
  /** The allowed non-empty enum values' bytes, one after another. */
  enumBytes: Uint8Array;
  /** Hash table over the values: slot h holds [offset in enumBytes, length] (length 0: empty slot). */
  enumSlots: Int32Array;
  enumMask: number;
  values: string[];
}

export function compileChecks(rules: ColumnRule[], names: string[]): CompiledCheck[] {
  const out: CompiledCheck[] = [];
  for (const rule of rules) {
    const col = names.indexOf(rule.name);
    if (col < 0) continue; // a missing optional column is not checked
    const c: CompiledCheck = {
      col,
      name: rule.name,
      kind: K_STRING,
      required: rule.required,
      min: undefined,
      max: undefined,
      exclusiveMin: false,
      lo: -Infinity,
      hi: Infinity,
      maxLength: undefined,
      enumBytes: new Uint8Array(0),
      enumSlots: new Int32Array(0),
      enumMask: 0,
      values: [],
    };
    switch (rule.type) {
      case 'number':
        c.kind = K_NUMBER;
        c.min = rule.min;
        c.max = rule.max;
        c.exclusiveMin = rule.exclusiveMin === true;
        break;
      case 'integer':
        c.kind = K_INTEGER;
        c.min = rule.min;
        c.max = rule.max;
        break;
      case 'enum':
        c.kind = K_ENUM;
        c.values = rule.values;
        buildEnumTable(c, rule.values);
        break;
      case 'string':
        c.kind = K_STRING;
        c.maxLength = rule.maxLength;
        break;
    }
    c.lo = c.min ?? -Infinity;
    c.hi = c.max ?? Infinity;
    out.push(c);
  }
  return out;
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER_RE = /^[+-]?\d+$/;

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Parses a decimal number from bytes [s, e) (spaces/tabs around allowed). Returns NaN when the
 * text is not a number. Up to 15 significant digits without exponent take an exact fast path
 * (mantissa / 10^k is correctly rounded); anything else goes through `Number()`.
 */
export function parseNumberBytes(buf: Buffer, s: number, e: number, integer: boolean): number {
  while (s < e && isBlank(buf[s] as number)) s++;
  while (e > s && isBlank(buf[e - 1] as number)) e--;
  if (s === e) return NaN;
  return parseTrimmed(buf, s, e, integer);
}

/** parseNumberBytes on an already trimmed, non-empty range: the small, hot part. */
function parseTrimmed(buf: Buffer, s: number, e: number, integer: boolean): number {
  let i = s;
  let neg = false;
  const first = buf[i] as number;
  if (first === 45) {
    neg = true;
    i++;
  } else if (first === 43) i++;
  let mant = 0;
  let dotAt = -1;
  const start = i;
  for (; i < e; i++) {
    const c = buf[i] as number;
    const d = c - 48;
    if (d >= 0 && d <= 9) mant = mant * 10 + d;
    else if (c === 46 && dotAt < 0 && !integer) dotAt = i;
    else break;
  }
  const digits = i - start - (dotAt < 0 ? 0 : 1);
  if (i !== e || digits === 0 || digits > 15) return parseSlow(buf, s, e, integer);
  const v = dotAt < 0 ? mant : mant / (POW10[e - dotAt - 1] as number);
  return neg ? -v : v;
}

function parseSlow(buf: Buffer, s: number, e: number, integer: boolean): number {
  const text = buf.toString('latin1', s, e);
  if (!(integer ? INTEGER_RE : NUMBER_RE).test(text)) return NaN;
  return Number(text);
}

function quoteValue(v: string): string {
  const shown = v.length > 60 ? `${v.slice(0, 57)}...` : v;
  return JSON.stringify(shown);
}

/** The checks of one schema against one header; `check` runs them on a record. */
export class RowChecker {
  private readonly checks: CompiledCheck[];

  constructor(checks: CompiledCheck[]) {
    this.checks = checks;
  }

  static compile(rules: ColumnRule[], names: string[]): RowChecker {
    return new RowChecker(compileChecks(rules, names));
  }

  /**
   * Checks every rule on a record whose field count matches the header; calls `onProblem` for
   * each failing value. (A method, so that the per-field calls stay module-local.) The hot path
   * answers pass/fail from the bytes; a message is phrased only for a failing value.
   */
  check(rec: CsvRecord, onProblem: (rec: CsvRecord, c: CompiledCheck, message: string) => void): void {
    const checks = this.checks;
    const buf = rec.buf;
    for (let k = 0; k < checks.length; k++) {
      const c = checks[k] as CompiledCheck;
      const i = c.col;
      if (rec.hasEscapes(i) || !passes(c, buf, rec.fieldStart(i), rec.fieldEnd(i))) {
        const message = checkField(c, rec);
        if (message !== undefined) onProblem(rec, c, message);
      }
    }
  }
}

/** Whether a field's bytes [s, e) (without doubled quotes) pass the check. */
function passes(c: CompiledCheck, buf: Buffer, s: number, e: number): boolean {
  const kind = c.kind;
  if (kind === K_ENUM) return checkEnum(c, buf, s, e);
  if (kind === K_STRING) return e > s ? c.maxLength === undefined || e - s <= c.maxLength : !c.required;
  while (s < e && isBlank(buf[s] as number)) s++;
  while (e > s && isBlank(buf[e - 1] as number)) e--;
  if (s === e) return !c.required;
  const v = parseTrimmed(buf, s, e, kind === K_INTEGER);
  // v - v === 0 is false for NaN and infinities.
  return v - v === 0 && (c.exclusiveMin ? v > c.lo : v >= c.lo) && v <= c.hi;
}

/** Checks one field; returns a problem message or undefined. Assumes rec.fieldCount > c.col. */
export function checkField(c: CompiledCheck, rec: CsvRecord): string | undefined {
  const i = c.col;
  let buf = rec.buf;
  let s = rec.fieldStart(i);
  let e = rec.fieldEnd(i);
  if (rec.hasEscapes(i)) {
    // Rare: the bytes contain doubled quotes; check the unescaped value instead.
    buf = Buffer.from(rec.field(i), 'utf8');
    s = 0;
    e = buf.length;
  }
  const kind = c.kind;
  if (kind === K_ENUM) return checkEnum(c, buf, s, e) ? undefined : enumProblem(c, rec, s, e);
  if (kind === K_STRING) return checkString(c, buf, s, e);
  // number / integer
  while (s < e && isBlank(buf[s] as number)) s++;
  while (e > s && isBlank(buf[e - 1] as number)) e--;
  if (s === e) return c.required ? emptyProblem(c) : undefined;
  const v = parseTrimmed(buf, s, e, kind === K_INTEGER);
  // v - v === 0 is false for NaN and infinities.
  if (v - v === 0 && (c.exclusiveMin ? v > c.lo : v >= c.lo) && v <= c.hi) return undefined;
  return numberProblem(c, rec, v);
}

/** Hash of a non-empty byte range from its length and three of its bytes (plain arithmetic: fast everywhere). */
function enumHash(buf: Uint8Array, s: number, len: number): number {
  const first = buf[s] as number;
  const last = buf[s + len - 1] as number;
  const mid = buf[s + (len >> 1)] as number;
  return (((first * 31 + last) * 31 + mid) * 31 + len) | 0;
}

/** A collision-free table when one fits in 64k slots; otherwise values sharing a slot are chained by probing. */
function buildEnumTable(c: CompiledCheck, values: string[]): void {
  const bytes = [...new Set(values)].map((v) => Buffer.from(v, 'utf8')).filter((b) => b.length > 0);
  c.enumBytes = Buffer.concat(bytes);
  let size = 16;
  while (size < bytes.length * 4) size *= 2;
  for (;;) {
    const mask = size - 1;
    const slots = new Int32Array(2 * size);
    let clash = false;
    let off = 0;
    for (const b of bytes) {
      let h = enumHash(b, 0, b.length) & mask;
      if (slots[2 * h + 1] !== 0) clash = true;
      while (slots[2 * h + 1] !== 0) h = (h + 1) & mask; // linear probing
      slots[2 * h] = off;
      slots[2 * h + 1] = b.length;
      off += b.length;
    }
    if (!clash || size >= 65536) {
      c.enumSlots = slots;
      c.enumMask = mask;
      return;
    }
    size *= 2;
  }
}

function checkEnum(c: CompiledCheck, buf: Buffer, s: number, e: number): boolean {
  const len = e - s;
  if (len === 0) return !c.required;
  const mask = c.enumMask;
  const slots = c.enumSlots;
  const values = c.enumBytes;
  let h = enumHash(buf, s, len) & mask;
  for (;;) {
    const n = slots[2 * h + 1] as number;
    if (n === 0) return false;
    if (n === len) {
      const off = slots[2 * h] as number;
      let k = 0;
      while (k < len && values[off + k] === buf[s + k]) k++;
      if (k === len) return true;
    }
    h = (h + 1) & mask;
  }
}

function checkString(c: CompiledCheck, buf: Buffer, s: number, e: number): string | undefined {
  const len = e - s;
  if (len === 0) return c.required ? emptyProblem(c) : undefined;
  if (c.maxLength === undefined || len <= c.maxLength) return undefined;
  let chars = 0;
  for (let k = s; k < e; k++) if (((buf[k] as number) & 0xc0) !== 0x80) chars++;
  if (chars <= c.maxLength) return undefined;
  return `${c.name} is ${chars} characters long; at most ${c.maxLength} are allowed`;
}

function emptyProblem(c: CompiledCheck): string {
  return `${c.name} is empty (a value is required)`;
}

function enumProblem(c: CompiledCheck, rec: CsvRecord, s: number, e: number): string {
  if (s === e) return emptyProblem(c);
  return `${c.name} ${quoteValue(rec.field(c.col))} is not one of: ${c.values.join(', ')}`;
}

function numberProblem(c: CompiledCheck, rec: CsvRecord, v: number): string | undefined {
  const shown = `${c.name} ${quoteValue(rec.field(c.col))}`;
  if (Number.isNaN(v)) return `${shown} is not ${c.kind === K_INTEGER ? 'an integer' : 'a number'}`;
  if (!Number.isFinite(v)) return `${shown} is not a finite number`;
  if (c.min !== undefined) {
    if (c.exclusiveMin ? !(v > c.min) : !(v >= c.min)) {
      return `${shown} must be ${c.exclusiveMin ? 'greater than' : 'at least'} ${c.min}`;
    }
  }
  if (c.max !== undefined && !(v <= c.max)) return `${shown} must be at most ${c.max}`;
  return undefined;
}

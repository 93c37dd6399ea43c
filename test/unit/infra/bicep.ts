import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * A small reader for the Bicep in infra/, enough for the infra tests: declarations (param, var, output,
 * resource, module), object bodies, and an evaluator for the expressions our app settings and module
 * parameters use. It is not a Bicep compiler; it relies on the house style of infra/ (one declaration or
 * property per line, top-level declarations at column 0) and throws on anything it does not understand,
 * so a change the reader cannot follow fails the tests instead of passing unchecked.
 */

export const REPO_ROOT = resolve(__dirname, '../../..');
export const INFRA_DIR = join(REPO_ROOT, 'infra');

export interface BicepFile {
  path: string;
  /** Source with comments blanked out (same length, so offsets and line numbers agree with the file). */
  code: string;
  /** `code` with the contents of string literals blanked too: safe for brace matching and keyword search. */
  mask: string;
  /** The original text, comments included. */
  text: string;
}

export interface Declaration {
  name: string;
  /** Declared type for param/output. */
  type?: string;
  /** Expression text (default value for a param). */
  expr?: string;
  /** Decorator lines directly above the declaration. */
  decorators: string[];
  line: number;
}

export interface Resource {
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  /** Condition text of `= if (...) {`, if any. */
  condition?: string;
  /** Inside of the resource's object (for a `[for ...: {...}]` loop, the inside of the loop's object). */
  body: string;
  line: number;
}

export interface Module {
  symbol: string;
  /** Path as written, relative to the declaring file. */
  path: string;
  body: string;
  line: number;
}

// ------------------------------------------------------------------------------------------------------------
// Lexing: comments and strings
// ------------------------------------------------------------------------------------------------------------

/** Index just past the string literal starting at `i` (a `'`), following `${...}` interpolations. */
function skipString(src: string, i: number): number {
  if (src.startsWith("'''", i)) {
    const end = src.indexOf("'''", i + 3);
    if (end < 0) throw new Error('Unterminated multi-line string');
    return end + 3;
  }
  let j = i + 1;
  while (j < src.length) {
    const c = src[j];
    if (c === '\\') {
      j += 2;
      continue;
    }
    if (c === "'") return j + 1;
    if (c === '$' && src[j + 1] === '{') {
      j = skipCode(src, j + 2, '}');
      continue;
    }
    if (c === '\n') throw new Error(`Unterminated string at offset ${i}`);
    j += 1;
  }
  throw new Error(`Unterminated string at offset ${i}`);
}

/** Index just past the `close` that ends code starting at `i`, skipping nested brackets and strings. */
function skipCode(src: string, i: number, close: string): number {
  const pairs: Record<string, string> = { '{': '}', '[': ']', '(': ')' };
  const stack: string[] = [close];
  let j = i;
  while (j < src.length) {
    const c = src[j]!;
    if (c === "'") {
      j = skipString(src, j);
      continue;
    }
    if (c === '/' && src[j + 1] === '/') {
      const nl = src.indexOf('\n', j);
      j = nl < 0 ? src.length : nl;
      continue;
    }
    if (c === '/' && src[j + 1] === '*') {
      const end = src.indexOf('*/', j + 2);
      if (end < 0) throw new Error('Unterminated block comment');
      j = end + 2;
      continue;
    }
    if (pairs[c]) stack.push(pairs[c]);
    else if (c === '}' || c === ']' || c === ')') {
      const expected = stack.pop();
      if (c !== expected) throw new Error(`Unbalanced "${c}" at offset ${j} (expected "${expected}")`);
      if (stack.length === 0) return j + 1;
    }
    j += 1;
  }
  throw new Error(`Missing "${close}"`);
}

function blank(s: string): string {
  return s.replace(/[^\n]/g, ' ');
}

/** Blanks comments (→ code) and additionally string contents (→ mask), keeping offsets. */
export function lex(text: string): { code: string; mask: string } {
  let code = '';
  let mask = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'") {
      const end = skipString(text, i);
      const lit = text.slice(i, end);
      code += lit;
      mask += "'" + blank(lit.slice(1, -1)) + "'";
      i = end;
    } else if (c === '/' && text[i + 1] === '/') {
      const nl = text.indexOf('\n', i);
      const end = nl < 0 ? text.length : nl;
      code += blank(text.slice(i, end));
      mask += blank(text.slice(i, end));
      i = end;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) throw new Error('Unterminated block comment');
      code += blank(text.slice(i, close + 2));
      mask += blank(text.slice(i, close + 2));
      i = close + 2;
    } else {
      code += c;
      mask += c;
      i += 1;
    }
  }
  return { code, mask };
}

/** Throws unless every bracket in the file is balanced (outside strings and comments). */
export function checkBalanced(file: BicepFile): void {
  const stack: Array<{ c: string; at: number }> = [];
  const pairs: Record<string, string> = { '}': '{', ']': '[', ')': '(' };
  for (let i = 0; i < file.mask.length; i++) {
    const c = file.mask[i]!;
    if (c === '{' || c === '[' || c === '(') stack.push({ c, at: i });
    else if (pairs[c]) {
      const open = stack.pop();
      if (!open || open.c !== pairs[c])
        throw new Error(`${file.path}: unbalanced "${c}" on line ${lineOf(file, i)}`);
    }
  }
  if (stack.length)
    throw new Error(`${file.path}: unclosed "${stack[0]!.c}" on line ${lineOf(file, stack[0]!.at)}`);
}

export function readBicep(path: string): BicepFile {
  const text = readFileSync(path, 'utf8');
  const { code, mask } = lex(text);
  return { path, text, code, mask };
}

function lineOf(file: BicepFile, offset: number): number {
  return file.text.slice(0, offset).split('\n').length;
}

/** Offset of the bracket matching the one at `open` (in mask coordinates). */
export function matchBracket(mask: string, open: number): number {
  const openers: Record<string, string> = { '{': '}', '[': ']', '(': ')' };
  const stack: string[] = [];
  for (let i = open; i < mask.length; i++) {
    const c = mask[i]!;
    if (openers[c]) stack.push(openers[c]);
    else if (c === '}' || c === ']' || c === ')') {
      if (stack.pop() !== c) throw new Error(`Unbalanced "${c}" at offset ${i}`);
      if (stack.length === 0) return i;
    }
  }
  throw new Error(`No match for bracket at offset ${open}`);
}

// ------------------------------------------------------------------------------------------------------------
// Declarations
// ------------------------------------------------------------------------------------------------------------

function lines(file: BicepFile): Array<{ code: string; mask: string; offset: number; index: number }> {
  const out: Array<{ code: string; mask: string; offset: number; index: number }> = [];
  let offset = 0;
  const codeLines = file.code.split('\n');
  const maskLines = file.mask.split('\n');
  codeLines.forEach((code, index) => {
    out.push({ code, mask: maskLines[index]!, offset, index });
    offset += code.length + 1;
  });
  return out;
}

/** A declaration's value: the rest of its line, extended over brackets opened on it. */
function valueFrom(file: BicepFile, start: number): string {
  let end = start;
  let depth = 0;
  while (end < file.mask.length) {
    const c = file.mask[end]!;
    if (c === '{' || c === '[' || c === '(') depth += 1;
    else if (c === '}' || c === ']' || c === ')') depth -= 1;
    else if (c === '\n' && depth === 0) break;
    end += 1;
  }
  return file.code.slice(start, end).trim();
}

/** Decorators directly above line `lineIndex`: the non-blank lines up to the previous blank line or declaration. */
function decoratorsAbove(file: BicepFile, lineIndex: number): string[] {
  const all = file.code.split('\n');
  const block: string[] = [];
  for (let i = lineIndex - 1; i >= 0; i--) {
    const l = all[i]!.trim();
    if (l === '' || /^(param|var|output|resource|module|targetScope)\b/.test(l)) break;
    block.unshift(l);
  }
  const found: string[] = [];
  for (const l of block) {
    if (l.startsWith('@')) found.push(l);
    else if (found.length) found[found.length - 1] += `\n${l}`;
  }
  return found;
}

function declarations(file: BicepFile, keyword: 'param' | 'var' | 'output'): Map<string, Declaration> {
  const out = new Map<string, Declaration>();
  const re =
    keyword === 'var' ? /^var\s+(\w+)\s*=\s*/ : new RegExp(`^${keyword}\\s+(\\w+)\\s+(\\w+)(?:\\s*=\\s*)?`);
  for (const l of lines(file)) {
    const m = re.exec(l.mask);
    if (!m) continue;
    const name = m[1]!;
    const hasValue = /=\s*$/.test(m[0]) || keyword === 'var';
    const expr = hasValue ? valueFrom(file, l.offset + m[0].length) : undefined;
    out.set(name, {
      name,
      ...(keyword === 'var' ? {} : { type: m[2]! }),
      ...(expr !== undefined && expr !== '' ? { expr } : {}),
      decorators: decoratorsAbove(file, l.index),
      line: l.index + 1,
    });
  }
  return out;
}

export const params = (file: BicepFile) => declarations(file, 'param');
export const vars = (file: BicepFile) => declarations(file, 'var');
export const outputs = (file: BicepFile) => declarations(file, 'output');

export function targetScope(file: BicepFile): string {
  const m = /^targetScope\s*=\s*'(\w+)'/m.exec(file.code);
  return m ? m[1]! : 'resourceGroup';
}

/** Inside of the `{...}` or `[for ...: {...}]` that starts at or after `from`. */
function declarationBody(file: BicepFile, from: number): { body: string; condition?: string } {
  let at = from;
  let condition: string | undefined;
  const cond = /^\s*if\s*\(/.exec(file.mask.slice(at));
  if (cond) {
    const open = at + cond[0].length - 1;
    const close = matchBracket(file.mask, open);
    condition = file.code.slice(open + 1, close).trim();
    at = close + 1;
  }
  const m = /^\s*([{[])/.exec(file.mask.slice(at));
  if (!m) throw new Error(`${file.path}: cannot read the declaration body on line ${lineOf(file, from)}`);
  const openAt = at + m[0].length - 1;
  const closeAt = matchBracket(file.mask, openAt);
  const extra = condition ? { condition } : {};
  if (file.mask[openAt] === '{') return { body: file.code.slice(openAt + 1, closeAt), ...extra };
  // [for x in y: { ... }]
  const inner = file.mask.indexOf('{', openAt);
  if (inner < 0 || inner > closeAt) {
    throw new Error(`${file.path}: unsupported array declaration on line ${lineOf(file, from)}`);
  }
  return { body: file.code.slice(inner + 1, matchBracket(file.mask, inner)), ...extra };
}

export function resources(file: BicepFile): Resource[] {
  const out: Resource[] = [];
  for (const l of lines(file)) {
    if (!/^resource\s/.test(l.mask)) continue;
    const m = /^resource\s+(\w+)\s+'([^'@]+)@([^']+)'\s*(existing\s*)?=/.exec(l.code);
    if (!m) throw new Error(`${file.path}: cannot read the resource declaration on line ${l.index + 1}`);
    const { body, condition } = declarationBody(file, l.offset + m[0].length);
    out.push({
      symbol: m[1]!,
      type: m[2]!,
      apiVersion: m[3]!,
      existing: Boolean(m[4]),
      ...(condition ? { condition } : {}),
      body,
      line: l.index + 1,
    });
  }
  return out;
}

export function modules(file: BicepFile): Module[] {
  const out: Module[] = [];
  for (const l of lines(file)) {
    if (!/^module\s/.test(l.mask)) continue;
    const m = /^module\s+(\w+)\s+'([^']+)'\s*=/.exec(l.code);
    if (!m) throw new Error(`${file.path}: cannot read the module declaration on line ${l.index + 1}`);
    out.push({
      symbol: m[1]!,
      path: m[2]!,
      body: declarationBody(file, l.offset + m[0].length).body,
      line: l.index + 1,
    });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------------------
// Object and array bodies
// ------------------------------------------------------------------------------------------------------------

/** Top-level `key: value` entries of an object body (the text between its braces), in order. */
export function entries(body: string): Array<[string, string]> {
  const { mask } = lex(body);
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < mask.length) {
    // skip whitespace and commas
    while (i < mask.length && /[\s,]/.test(mask[i]!)) i += 1;
    if (i >= mask.length) break;
    const keyMatch = /^('[^']*'|[A-Za-z_]\w*)\s*:\s*/.exec(body.slice(i));
    if (!keyMatch) throw new Error(`Cannot read an object entry at: ${body.slice(i, i + 60)}`);
    const key = keyMatch[1]!.startsWith("'") ? keyMatch[1]!.slice(1, -1) : keyMatch[1]!;
    let j = i + keyMatch[0].length;
    const start = j;
    let depth = 0;
    while (j < mask.length) {
      const c = mask[j]!;
      if (c === '{' || c === '[' || c === '(') depth += 1;
      else if (c === '}' || c === ']' || c === ')') depth -= 1;
      else if ((c === '\n' || c === ',') && depth === 0) break;
      j += 1;
    }
    out.push([key, body.slice(start, j).trim()]);
    i = j;
  }
  return out;
}

/** The value text of `key` in an object body; `a.b.c` walks nested objects. */
export function property(body: string, path: string): string | undefined {
  const [head, ...rest] = path.split('.');
  const found = entries(body).find(([k]) => k === head);
  if (!found) return undefined;
  if (rest.length === 0) return found[1];
  const v = found[1].trim();
  if (!v.startsWith('{')) return undefined;
  return property(v.slice(1, v.lastIndexOf('}')), rest.join('.'));
}

/** Items of an array literal's inside (newline- or comma-separated). */
export function items(inside: string): string[] {
  const { mask } = lex(inside);
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= mask.length; i++) {
    const c = mask[i];
    if (c === '{' || c === '[' || c === '(') depth += 1;
    else if (c === '}' || c === ']' || c === ')') depth -= 1;
    if (i === mask.length || ((c === '\n' || c === ',') && depth === 0)) {
      const item = inside.slice(start, i).trim();
      if (item) out.push(item);
      start = i + 1;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------------------
// Expression evaluation
// ------------------------------------------------------------------------------------------------------------

export type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

export interface Scope {
  /** Directory of the file the expression comes from (for loadJsonContent). */
  dir: string;
  /** Value of a bare identifier (param or var). */
  identifier(name: string): Value | undefined;
  /** Value of a dotted path such as `identity.outputs.clientId` or `rg.name`, if known. */
  path(path: string): Value | undefined;
  /** Results of subscription(), tenant(), environment(). */
  deployment: { subscriptionId: string; tenantId: string; storageSuffix: string };
}

type Node =
  | { kind: 'lit'; value: Value }
  | { kind: 'str'; parts: Array<string | Node> }
  | { kind: 'id'; name: string }
  | { kind: 'member'; object: Node; name: string }
  | { kind: 'index'; object: Node; index: Node }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'not'; operand: Node }
  | { kind: 'bin'; op: string; left: Node; right: Node }
  | { kind: 'cond'; test: Node; then: Node; else: Node }
  | { kind: 'array'; items: Node[] }
  | { kind: 'object'; entries: Array<[string, Node]> };

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.expr();
    this.ws();
    if (this.i < this.src.length)
      throw new Error(`Unexpected "${this.src.slice(this.i, this.i + 20)}" in: ${this.src}`);
    return node;
  }

  private ws(): void {
    while (this.i < this.src.length && /\s/.test(this.src[this.i]!)) this.i += 1;
  }

  private eat(token: string): boolean {
    this.ws();
    if (this.src.startsWith(token, this.i)) {
      this.i += token.length;
      return true;
    }
    return false;
  }

  private expr(): Node {
    const test = this.binary(0);
    if (this.eat('?')) {
      const then = this.expr();
      if (!this.eat(':')) throw new Error(`Expected ":" in: ${this.src}`);
      return { kind: 'cond', test, then, else: this.expr() };
    }
    return test;
  }

  private static readonly LEVELS = [
    ['||'],
    ['&&'],
    ['==', '!='],
    ['<=', '>=', '<', '>'],
    ['+', '-'],
    ['*', '/', '%'],
  ];

  private binary(level: number): Node {
    if (level >= Parser.LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      this.ws();
      const op = Parser.LEVELS[level]!.find((o) => this.src.startsWith(o, this.i));
      if (!op) return left;
      this.i += op.length;
      left = { kind: 'bin', op, left, right: this.binary(level + 1) };
    }
  }

  private unary(): Node {
    if (this.eat('!')) return { kind: 'not', operand: this.unary() };
    return this.postfix();
  }

  private postfix(): Node {
    let node = this.primary();
    for (;;) {
      if (this.eat('.')) {
        const m = /^[A-Za-z_]\w*/.exec(this.src.slice(this.i));
        if (!m) throw new Error(`Expected a property name in: ${this.src}`);
        this.i += m[0].length;
        node = { kind: 'member', object: node, name: m[0] };
      } else if (this.src[this.i] === '[') {
        this.i += 1;
        const index = this.expr();
        if (!this.eat(']')) throw new Error(`Expected "]" in: ${this.src}`);
        node = { kind: 'index', object: node, index };
      } else return node;
    }
  }

  private primary(): Node {
    this.ws();
    const rest = this.src.slice(this.i);
    if (rest.startsWith("'")) return this.string();
    if (rest.startsWith('(')) {
      this.i += 1;
      const inner = this.expr();
      if (!this.eat(')')) throw new Error(`Expected ")" in: ${this.src}`);
      return inner;
    }
    if (rest.startsWith('[') || rest.startsWith('{')) {
      const close = skipCode(this.src, this.i + 1, rest[0] === '[' ? ']' : '}');
      const inside = this.src.slice(this.i + 1, close - 1);
      this.i = close;
      if (rest[0] === '[') return { kind: 'array', items: items(inside).map((t) => new Parser(t).parse()) };
      return { kind: 'object', entries: entries(inside).map(([k, v]) => [k, new Parser(v).parse()]) };
    }
    const num = /^-?\d+/.exec(rest);
    if (num) {
      this.i += num[0].length;
      return { kind: 'lit', value: Number(num[0]) };
    }
    const id = /^[A-Za-z_]\w*/.exec(rest);
    if (!id) throw new Error(`Cannot parse "${rest.slice(0, 30)}" in: ${this.src}`);
    this.i += id[0].length;
    const name = id[0];
    if (name === 'true' || name === 'false') return { kind: 'lit', value: name === 'true' };
    if (name === 'null') return { kind: 'lit', value: null };
    if (this.src[this.i] === '(') {
      this.i += 1;
      const args: Node[] = [];
      if (!this.eat(')')) {
        do args.push(this.expr());
        while (this.eat(','));
        if (!this.eat(')')) throw new Error(`Expected ")" after arguments of ${name}() in: ${this.src}`);
      }
      return { kind: 'call', name, args };
    }
    return { kind: 'id', name };
  }

  private string(): Node {
    const end = skipString(this.src, this.i);
    const raw = this.src.slice(this.i + 1, end - 1);
    this.i = end;
    const parts: Array<string | Node> = [];
    let text = '';
    for (let k = 0; k < raw.length; k++) {
      const c = raw[k]!;
      if (c === '\\') {
        const n = raw[k + 1]!;
        text += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        k += 1;
      } else if (c === '$' && raw[k + 1] === '{') {
        const close = skipCode(raw, k + 2, '}');
        if (text) parts.push(text);
        text = '';
        parts.push(new Parser(raw.slice(k + 2, close - 1)).parse());
        k = close - 1;
      } else text += c;
    }
    if (text || parts.length === 0) parts.push(text);
    return { kind: 'str', parts };
  }
}

export function parseExpression(src: string): Node {
  return new Parser(src.trim()).parse();
}

function dottedPath(node: Node): string | undefined {
  if (node.kind === 'id') return node.name;
  if (node.kind === 'member') {
    const base = dottedPath(node.object);
    return base === undefined ? undefined : `${base}.${node.name}`;
  }
  return undefined;
}

function uniqueStringLike(args: Value[]): string {
  // Deterministic 13-char lowercase token, like uniqueString(); the real hash does not matter here.
  let h = 0;
  for (const ch of args.map(String).join('|')) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h.toString(36).padStart(13, 'a').slice(0, 13);
}

function asString(v: Value, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`${what} is not a string: ${JSON.stringify(v)}`);
}

export function evaluate(src: string | Node, scope: Scope): Value {
  const node = typeof src === 'string' ? parseExpression(src) : src;
  const ev = (n: Node): Value => evaluate(n, scope);
  switch (node.kind) {
    case 'lit':
      return node.value;
    case 'str':
      return node.parts
        .map((p) => (typeof p === 'string' ? p : asString(ev(p), 'interpolated value')))
        .join('');
    case 'id': {
      const v = scope.identifier(node.name);
      if (v === undefined) throw new Error(`Unknown identifier "${node.name}"`);
      return v;
    }
    case 'member': {
      const path = dottedPath(node);
      if (path !== undefined) {
        const known = scope.path(path);
        if (known !== undefined) return known;
      }
      const obj = ev(node.object);
      if (obj && typeof obj === 'object' && !Array.isArray(obj) && node.name in obj) return obj[node.name]!;
      throw new Error(`Cannot evaluate "${path ?? node.name}"`);
    }
    case 'index': {
      const obj = ev(node.object);
      const idx = ev(node.index);
      if (Array.isArray(obj) && typeof idx === 'number') return obj[idx]!;
      if (obj && typeof obj === 'object' && !Array.isArray(obj) && typeof idx === 'string') return obj[idx]!;
      throw new Error('Unsupported index expression');
    }
    case 'not':
      return !ev(node.operand);
    case 'cond':
      return ev(node.test) ? ev(node.then) : ev(node.else);
    case 'array':
      return node.items.map(ev);
    case 'object':
      return Object.fromEntries(node.entries.map(([k, v]) => [k, ev(v)]));
    case 'bin': {
      const l = ev(node.left);
      if (node.op === '&&') return Boolean(l) && Boolean(ev(node.right));
      if (node.op === '||') return Boolean(l) || Boolean(ev(node.right));
      const r = ev(node.right);
      switch (node.op) {
        case '==':
          return JSON.stringify(l) === JSON.stringify(r);
        case '!=':
          return JSON.stringify(l) !== JSON.stringify(r);
        case '+':
          return Number(l) + Number(r);
        case '-':
          return Number(l) - Number(r);
        case '*':
          return Number(l) * Number(r);
        default:
          throw new Error(`Unsupported operator ${node.op}`);
      }
    }
    case 'call': {
      const args = node.args.map(ev);
      const a0 = args[0] as Value;
      switch (node.name) {
        case 'string':
          return typeof a0 === 'string' ? a0 : JSON.stringify(a0);
        case 'empty':
          return (
            a0 === null ||
            a0 === '' ||
            (Array.isArray(a0) && a0.length === 0) ||
            (typeof a0 === 'object' && a0 !== null && Object.keys(a0).length === 0)
          );
        case 'toLower':
          return asString(a0, 'toLower argument').toLowerCase();
        case 'toUpper':
          return asString(a0, 'toUpper argument').toUpperCase();
        case 'concat':
          return args.map((x) => asString(x, 'concat argument')).join('');
        case 'take':
          return asString(a0, 'take argument').slice(0, Number(args[1]));
        case 'uniqueString':
          return uniqueStringLike(args);
        case 'union':
          return Object.assign({}, ...args.map((x) => x as object));
        case 'subscription':
          return {
            subscriptionId: scope.deployment.subscriptionId,
            id: `/subscriptions/${scope.deployment.subscriptionId}`,
          };
        case 'tenant':
          return { tenantId: scope.deployment.tenantId };
        case 'environment':
          return { suffixes: { storage: scope.deployment.storageSuffix } };
        case 'loadJsonContent':
          return JSON.parse(
            readFileSync(join(scope.dir, asString(a0, 'loadJsonContent path')), 'utf8'),
          ) as Value;
        default:
          throw new Error(`Unsupported function ${node.name}()`);
      }
    }
  }
}

/**
 * A scope for one Bicep file: params come from `param(name)` (else their defaults), vars are evaluated
 * lazily from their declarations, and dotted paths (module outputs, resource properties) from `path(p)`.
 */
export function fileScope(
  file: BicepFile,
  options: {
    param?: (name: string) => Value | undefined;
    path?: (path: string, scope: Scope) => Value | undefined;
    deployment: Scope['deployment'];
  },
): Scope {
  const ps = params(file);
  const vs = vars(file);
  const cache = new Map<string, Value>();
  const scope: Scope = {
    dir: dirname(file.path),
    deployment: options.deployment,
    identifier(name) {
      if (cache.has(name)) return cache.get(name);
      let v: Value | undefined;
      if (ps.has(name)) {
        v = options.param?.(name);
        if (v === undefined) {
          const expr = ps.get(name)!.expr;
          if (expr === undefined) throw new Error(`${file.path}: param ${name} has no value and no default`);
          v = evaluate(expr, scope);
        }
      } else if (vs.has(name)) v = evaluate(vs.get(name)!.expr!, scope);
      if (v !== undefined) cache.set(name, v);
      return v;
    },
    path: (p) => options.path?.(p, scope),
  };
  return scope;
}

/** Parses Bicep source given as text (for tests of this reader). */
export function parseBicep(text: string, path = 'inline.bicep'): BicepFile {
  const { code, mask } = lex(text);
  return { path, text, code, mask };
}

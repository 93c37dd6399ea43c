/**
 * ASP.NET-style route templates as the Functions host accepts them for HTTP triggers: literal segments
 * (case-insensitive), `{param}`, `{param?}` (optional, trailing), `{param=default}`, `{param:int}` / `:alpha` /
 * `:guid` / `:bool` / `:long` / `:double` constraints (others are accepted and not enforced), `{*rest}` catch-all,
 * and complex segments such as `{name}.{ext}`.
 */

export interface RouteMatch {
  params: Record<string, string>;
}

export interface CompiledRoute {
  template: string;
  /** Lower sorts first: literal segments beat constrained parameters beat parameters beat catch-alls. */
  precedence: number[];
  match(path: string): RouteMatch | undefined;
}

const CONSTRAINTS: Record<string, string> = {
  int: '-?\\d+',
  long: '-?\\d+',
  double: '-?\\d+(?:\\.\\d+)?',
  decimal: '-?\\d+(?:\\.\\d+)?',
  float: '-?\\d+(?:\\.\\d+)?',
  alpha: '[A-Za-z]+',
  bool: '(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])',
  guid: '[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}',
};

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface Param {
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue: string | undefined;
  pattern: string | undefined;
}

function parseParam(token: string, template: string): Param {
  let body = token;
  let catchAll = false;
  if (body.startsWith('**')) {
    catchAll = true;
    body = body.slice(2);
  } else if (body.startsWith('*')) {
    catchAll = true;
    body = body.slice(1);
  }
  let defaultValue: string | undefined;
  const eq = body.indexOf('=');
  if (eq >= 0) {
    defaultValue = body.slice(eq + 1);
    body = body.slice(0, eq);
  }
  let optional = false;
  if (body.endsWith('?')) {
    optional = true;
    body = body.slice(0, -1);
  }
  const [name, ...constraints] = body.split(':');
  if (!name) throw new Error(`Invalid route template "${template}": empty parameter name`);
  let pattern: string | undefined;
  for (const c of constraints) {
    const known = CONSTRAINTS[c.toLowerCase()];
    if (known) pattern = known;
  }
  return { name, optional: optional || defaultValue !== undefined, catchAll, defaultValue, pattern };
}

export function compileRoute(template: string): CompiledRoute {
  const clean = template.replace(/^\/+|\/+$/g, '');
  const segments = clean === '' ? [] : clean.split('/');
  const names: Param[] = [];
  const precedence: number[] = [];
  let regex = '^';
  segments.forEach((segment, index) => {
    const tokens = segment.split(/(\{[^}]*\})/).filter((t) => t !== '');
    const params = tokens.filter((t) => t.startsWith('{'));
    if (params.length === 0) {
      regex += `/${escapeRegex(segment)}`;
      precedence.push(1);
      return;
    }
    if (tokens.length === 1) {
      const p = parseParam(tokens[0]!.slice(1, -1), template);
      names.push(p);
      if (p.catchAll) {
        if (index !== segments.length - 1)
          throw new Error(`Invalid route template "${template}": catch-all must be last`);
        regex += '(?:/(.*))?';
        precedence.push(5);
      } else {
        const inner = `(${p.pattern ?? '[^/]+'})`;
        regex += p.optional ? `(?:/${inner})?` : `/${inner}`;
        precedence.push(p.pattern ? 3 : 4);
      }
      return;
    }
    // Complex segment: literals and parameters mixed, e.g. {name}.{ext}
    regex += '/';
    for (const t of tokens) {
      if (t.startsWith('{')) {
        const p = parseParam(t.slice(1, -1), template);
        names.push({ ...p, optional: false });
        regex += `(${p.pattern ?? '[^/]+'})`; // greedy: ASP.NET matches complex segments right to left
      } else {
        regex += escapeRegex(t);
      }
    }
    precedence.push(2);
  });
  regex += '/?$';
  const re = new RegExp(regex, 'i');
  return {
    template,
    precedence,
    match(path: string): RouteMatch | undefined {
      const normalized = path === '' || path.startsWith('/') ? path : `/${path}`;
      const m = re.exec(normalized === '/' ? '' : normalized);
      if (!m) return undefined;
      const params: Record<string, string> = {};
      names.forEach((p, i) => {
        const raw = m[i + 1];
        if (raw === undefined || raw === '') {
          if (p.defaultValue !== undefined) params[p.name] = p.defaultValue;
          return;
        }
        let value = raw;
        try {
          value = decodeURIComponent(raw);
        } catch {
          /* keep the raw value */
        }
        params[p.name] = value;
      });
      return { params };
    },
  };
}

export function comparePrecedence(a: CompiledRoute, b: CompiledRoute): number {
  const n = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < n; i++) {
    const x = a.precedence[i] ?? 0;
    const y = b.precedence[i] ?? 0;
    if (x !== y) return x - y;
  }
  return 0;
}

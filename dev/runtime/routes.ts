/**
 * HTTP trigger route templates, the subset the app uses: literal segments (case-insensitive, as ASP.NET routing),
 * `{param}` and a trailing catch-all `{*param}` (which also matches nothing). Constraints, optional parameters,
 * defaults and complex segments are refused at start-up rather than half-emulated.
 */

export interface CompiledRoute {
  template: string;
  /** Lower sorts first: literal segments beat parameters beat catch-alls (ASP.NET route precedence). */
  precedence: number[];
  match(path: string): { params: Record<string, string> } | undefined;
}

export function compileRoute(template: string): CompiledRoute {
  const segments = template
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter(Boolean);
  const names: string[] = [];
  const precedence: number[] = [];
  let regex = '^';
  segments.forEach((segment, i) => {
    const p = /^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(segment);
    if (p) {
      names.push(p[2]!);
      if (p[1] && i !== segments.length - 1) throw new Error(`route "${template}": a catch-all must be last`);
      regex += p[1] ? '(?:/(.*))?' : '/([^/]+)';
      precedence.push(p[1] ? 5 : 4);
    } else if (/[{}]/.test(segment)) {
      throw new Error(
        `route "${template}": segment "${segment}" is not supported by the local runtime (only literals, {name} and {*name})`,
      );
    } else {
      regex += `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
      precedence.push(1);
    }
  });
  const re = new RegExp(`${regex}/?$`, 'i');
  return {
    template,
    precedence,
    match(path) {
      const m = re.exec(path === '/' ? '' : path);
      if (!m) return undefined;
      const params: Record<string, string> = {};
      names.forEach((n, i) => {
        const raw = m[i + 1];
        if (raw === undefined || raw === '') return;
        try {
          params[n] = decodeURIComponent(raw);
        } catch {
          params[n] = raw;
        }
      });
      return { params };
    },
  };
}

export function comparePrecedence(a: CompiledRoute, b: CompiledRoute): number {
  for (let i = 0; i < Math.max(a.precedence.length, b.precedence.length); i++) {
    const d = (a.precedence[i] ?? 0) - (b.precedence[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

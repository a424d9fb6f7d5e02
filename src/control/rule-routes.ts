/**
 * The rules routes of the control API (docs/control-api.md "Rules"): list with hit counts, add,
 * replace, enable / disable, delete, and hits with a long-poll wait. A rule in a body is checked by
 * the validator the YAML files go through (rules/json-rule.ts), so a bad one gets the same issues
 * `rules check` prints, each at its field's path. A change applies to the next exchange.
 */
import type { Rule } from '../rules/compile.js';
import type { RuleDefinition } from '../rules/load.js';
import { RuleConflict, type RuleOrigin } from '../rules/live-rules.js';
import { ApiError } from './api-error.js';
import type { ControlState, Route } from './routes.js';

export interface RuleInfo {
  id: string;
  source: RuleOrigin['source'];
  scope?: string;
  enabled: boolean;
  hits: number;
  explain: string;
  priority: number;
  description?: string;
  file?: string;
  line?: number;
  definition: Record<string, unknown>;
}

/** The rule as the API and the YAML files write it: actions as one-key maps. */
export function definitionJson(def: RuleDefinition): Record<string, unknown> {
  return {
    id: def.id,
    ...(def.description !== undefined && { description: def.description }),
    match: def.match,
    actions: def.actions.map((a) => ({ [a.name]: a.arg })),
    ...(def.chance !== undefined && { chance: def.chance }),
    ...(def.times !== undefined && { times: def.times }),
    ...(def.skip !== undefined && { skip: def.skip }),
    ...(def.every !== undefined && { every: def.every }),
    priority: def.priority,
    enabled: def.enabled,
  };
}

export function ruleInfo(state: ControlState, rule: Rule, origin: RuleOrigin): RuleInfo {
  return {
    id: rule.id,
    source: origin.source,
    ...(origin.source === 'scope' && { scope: origin.scope }),
    enabled: rule.enabled,
    hits: state.hits.get(rule.id).hits,
    explain: rule.explain(),
    priority: rule.priority,
    ...(rule.description !== undefined && { description: rule.description }),
    ...(origin.source === 'file' && { file: rule.file, line: rule.line }),
    definition: definitionJson(rule.definition),
  };
}

function infoOf(state: ControlState, id: string): RuleInfo {
  const found = state.rules.list().find((r) => r.rule.id === id);
  if (found === undefined) throw notFound(id);
  return ruleInfo(state, found.rule, found.origin);
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'NOT_FOUND', `no rule ${JSON.stringify(id)} is in force; GET /api/rules lists them`);
}

/** Checks rule bodies (loads the YAML validator on first use: the proxy without rules never pays for it). */
export async function validateRules(state: ControlState, values: unknown[], source: string, ids: (i: number) => string | undefined): Promise<RuleDefinition[]> {
  const { validateJsonRule } = await import('../rules/json-rule.js');
  const issues: string[] = [];
  const defs: RuleDefinition[] = [];
  values.forEach((value, i) => {
    const generated = ids(i);
    const withId = generated !== undefined && value !== null && typeof value === 'object' && !Array.isArray(value) && !Object.hasOwn(value, 'id') ? { id: generated, ...value } : value;
    const result = validateJsonRule(withId, source, state.respondFiles);
    if (result.ok) defs.push(result.rule);
    else issues.push(...result.issues.map((issue) => (values.length === 1 ? issue : `rules[${i}].${issue}`)));
  });
  if (issues.length > 0) throw new ApiError(400, 'BAD_RULE', issues.length === 1 ? issues[0]! : `${issues.length} problems in the rule${values.length === 1 ? '' : 's'}; each is in issues`, issues);
  return defs;
}

export function conflict(err: unknown): never {
  if (err instanceof RuleConflict) throw new ApiError(409, 'CONFLICT', err.message);
  throw err;
}

const ID = { name: 'id', in: 'path', description: 'the rule id', schema: { type: 'string' } } as const;
const RULE_BODY = {
  description: 'one rule in the schema of the YAML rule files (docs/rules.md), as JSON: id (optional here), description, match, actions, chance, times, skip, every, priority, enabled',
  schema: { $ref: '#/components/schemas/RuleDefinition' },
  required: true,
};
const RULE_INFO = { $ref: '#/components/schemas/Rule' };

export const RULE_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/api/rules',
    operationId: 'listRules',
    summary: 'Every rule, file, runtime and scope, with its hit count, in the order they apply among equal priorities',
    parameters: [],
    response: { status: 200, description: 'the rules', schema: { type: 'array', items: RULE_INFO } },
    handler: ({ state }) => state.rules.list().map(({ rule, origin }) => ruleInfo(state, rule, origin)),
  },
  {
    method: 'POST',
    path: '/api/rules',
    operationId: 'addRule',
    summary: 'Add one runtime rule; it applies from the next exchange on and lives beside the file rules through reloads',
    parameters: [],
    requestBody: RULE_BODY,
    response: { status: 201, description: 'the rule added', schema: { type: 'object', required: ['id', 'rule'], properties: { id: { type: 'string' }, rule: RULE_INFO } } },
    handler: async ({ state, body }) => {
      const [def] = await validateRules(state, [body], 'runtime', () => state.nextRuntimeId());
      try {
        state.rules.add([def!], { source: 'runtime' });
      } catch (err) {
        conflict(err);
      }
      return { id: def!.id, rule: infoOf(state, def!.id) };
    },
  },
  {
    method: 'PUT',
    path: '/api/rules/{id}',
    operationId: 'replaceRule',
    summary: 'Replace a runtime rule (its counters start again when the definition changed)',
    parameters: [ID],
    requestBody: RULE_BODY,
    response: { status: 200, description: 'the rule as it is now', schema: RULE_INFO },
    handler: async ({ state, args, body }) => {
      const id = args.id as string;
      const origin = state.rules.originOf(id);
      if (origin === undefined) throw notFound(id);
      if (origin.source !== 'runtime') throw new ApiError(409, 'CONFLICT', origin.source === 'file' ? `rule ${id} comes from a file; edit the file (it reloads), or PATCH {"enabled": false} it` : `rule ${id} belongs to scope ${origin.scope}; delete the scope and create another`);
      const withId = body !== null && typeof body === 'object' && !Array.isArray(body) && !Object.hasOwn(body, 'id') ? { id, ...body } : body;
      const [def] = await validateRules(state, [withId], 'runtime', () => undefined);
      if (def!.id !== id) throw new ApiError(400, 'BAD_RULE', `id: the body's id ${JSON.stringify(def!.id)} is not the path's ${JSON.stringify(id)}; leave id out, or PUT /api/rules/${def!.id}`);
      state.rules.replace(id, def!);
      return infoOf(state, id);
    },
  },
  {
    method: 'PATCH',
    path: '/api/rules/{id}',
    operationId: 'setRuleEnabled',
    summary: 'Enable or disable a rule of any source; for a file rule, until its files change',
    parameters: [ID],
    requestBody: { description: '{"enabled": true | false}', schema: { type: 'object', required: ['enabled'], additionalProperties: false, properties: { enabled: { type: 'boolean' } } }, required: true },
    response: { status: 200, description: 'the rule as it is now', schema: RULE_INFO },
    handler: ({ state, args, body }) => {
      const id = args.id as string;
      const keys = body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : undefined;
      const enabled = (body as { enabled?: unknown } | undefined)?.enabled;
      if (keys === undefined || typeof enabled !== 'boolean' || keys.length !== 1) {
        const extra = keys?.filter((k) => k !== 'enabled') ?? [];
        throw new ApiError(400, 'BAD_BODY', extra.length > 0 ? `${extra[0]}: unknown field; PATCH takes only {"enabled": true|false} (PUT replaces a runtime rule whole)` : 'enabled: send {"enabled": true} or {"enabled": false}');
      }
      if (state.rules.originOf(id) === undefined) throw notFound(id);
      state.rules.setEnabled(id, enabled);
      return infoOf(state, id);
    },
  },
  {
    method: 'DELETE',
    path: '/api/rules/{id}',
    operationId: 'deleteRule',
    summary: 'Remove a runtime rule (a file rule is removed from its file; a scope rule with its scope)',
    parameters: [ID],
    response: { status: 200, description: 'removed', schema: { type: 'object', required: ['id', 'deleted'], properties: { id: { type: 'string' }, deleted: { const: true } } } },
    handler: ({ state, args }) => {
      const id = args.id as string;
      const origin = state.rules.originOf(id);
      if (origin === undefined) throw notFound(id);
      if (origin.source === 'file') throw new ApiError(409, 'CONFLICT', `rule ${id} comes from a file; remove it there (the file reloads), or PATCH {"enabled": false} it`);
      if (origin.source === 'scope') throw new ApiError(409, 'CONFLICT', `rule ${id} belongs to scope ${origin.scope}; DELETE /api/scopes/${origin.scope}`);
      state.rules.remove([id]);
      return { id, deleted: true };
    },
  },
  {
    method: 'GET',
    path: '/api/rules/{id}/hits',
    operationId: 'getRuleHits',
    summary: 'How many exchanges the rule was applied in, and their ids; with count and wait, answers once there are count hits or after wait ms',
    parameters: [
      ID,
      { name: 'count', in: 'query', description: 'answer as soon as the rule has this many hits (with wait)', schema: { type: 'integer', minimum: 1 } },
      { name: 'wait', in: 'query', description: 'wait at most this many milliseconds for count hits (default 0: answer now; at most 60000)', schema: { type: 'integer', minimum: 0, maximum: 60_000, default: 0 } },
    ],
    response: { status: 200, description: 'the hits', schema: { type: 'object', required: ['id', 'hits', 'exchanges'], properties: { id: { type: 'string' }, hits: { type: 'integer' }, exchanges: { type: 'array', items: { type: 'string' }, description: 'ids of the last 100 exchanges it was applied in, oldest first (GET /api/exchanges/{id})' } } } },
    handler: ({ state, args, signal }) => {
      const id = args.id as string;
      if (state.rules.originOf(id) === undefined && !state.hits.known(id)) throw notFound(id);
      const count = args.count as number | undefined;
      return count === undefined ? state.hits.get(id) : state.hits.wait(id, count, args.wait as number, signal);
    },
  },
];

/** JSON Schema of a rule body (the YAML files' schema; the server's validator has the details). */
export const RULE_DEFINITION_SCHEMA = {
  type: 'object',
  description: 'a rule as in the YAML rule files (docs/rules.md); unknown keys are refused',
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$' },
    description: { type: 'string' },
    match: { type: 'object', description: 'matchers by name (docs/rules.md "Matchers")' },
    actions: { type: 'array', minItems: 1, items: { type: 'object', minProperties: 1, maxProperties: 1 }, description: 'one-key maps, e.g. {"reject": "client-too-old"} (docs/rules.md "Actions")' },
    chance: { type: 'number', minimum: 0, maximum: 1 },
    times: { type: 'integer', minimum: 1 },
    skip: { type: 'integer', minimum: 0 },
    every: { type: 'integer', minimum: 1 },
    priority: { type: 'integer' },
    enabled: { type: 'boolean' },
  },
  required: ['actions'],
  additionalProperties: false,
} as const;

export const RULE_INFO_SCHEMA = {
  type: 'object',
  required: ['id', 'source', 'enabled', 'hits', 'explain', 'priority', 'definition'],
  properties: {
    id: { type: 'string' },
    source: { enum: ['file', 'runtime', 'scope'] },
    scope: { type: 'string', description: 'the scope id, for a scope rule' },
    enabled: { type: 'boolean' },
    hits: { type: 'integer', description: 'exchanges the rule was applied in' },
    explain: { type: 'string', description: 'the rule in words' },
    priority: { type: 'integer' },
    description: { type: 'string' },
    file: { type: 'string' },
    line: { type: 'integer' },
    definition: { $ref: '#/components/schemas/RuleDefinition' },
  },
} as const;

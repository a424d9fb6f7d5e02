/**
 * The control API's routes: ONE table that both dispatches requests (control/server.ts) and
 * generates the OpenAPI 3.1 document served at `GET /api/openapi.json`, so the document cannot
 * miss a route the server answers. Route names follow docs/control-api.md (a contract).
 */
import { formatFilterIssue, parseFilter, type Filter } from '../core/filter.js';
import { TOOL } from '../core/tool.js';
import { exchangeLine } from '../record/entry.js';
import type { Redactor } from '../record/redact.js';
import { ApiError } from './api-error.js';
import { buildOpenApi, COUNT_MAP } from './openapi.js';
import type { LiveConversations } from './conversations.js';
import type { ExchangeRing } from './exchange-ring.js';
import type { JournalLookup } from './journal-lookup.js';
import { summarize } from './exchange-summary.js';
import { EXPORT_ROUTES } from './export-routes.js';
import { EVENTS_ROUTE } from './feed-route.js';
import { METRICS_CONTENT_TYPE, type ProxyMetrics } from './metrics.js';
import type { ExchangeStats } from './stats.js';
import type { FileCheck } from '../rules/load.js';
import type { LiveRules } from '../rules/live-rules.js';
import type { RuleHits } from './hits.js';
import { Reply } from './reply.js';
import { RULE_ROUTES } from './rule-routes.js';
import { SCOPE_ROUTES } from './scope-routes.js';
import type { Scopes } from './scopes.js';
import { UI_ROUTES } from './ui-files.js';

export { Reply };

/** What the handlers read: the run's facts and the live views fed by the proxy's events. */
export interface ControlState {
  mode: 'forward' | 'reverse';
  seed: number;
  /** Date.now() at start. */
  startedAt: number;
  ring: ExchangeRing;
  /** Where GET /api/exchanges/{id} looks once the ring no longer holds the exchange; absent with --no-record. */
  journal?: JournalLookup;
  stats: ExchangeStats;
  conversations: LiveConversations;
  redactor: Redactor;
  /** File, runtime and scope rules, compiled into the one set the proxy reads. */
  rules: LiveRules;
  hits: RuleHits;
  scopes: Scopes;
  /** Whether a runtime rule's `respond: { file: }` may be served (`--rules-files-anywhere`). */
  respondFiles: FileCheck;
  /** `runtime-N`, for a runtime rule sent without an id. */
  nextRuntimeId(): string;
  metrics: ProxyMetrics;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query';
  description: string;
  schema: { type: 'integer'; minimum?: number; maximum?: number; default?: number } | { type: 'string'; enum?: string[]; default?: string };
}

export interface RouteCall {
  state: ControlState;
  /** Path and query parameters, parsed by their schema (integers are numbers). */
  args: Record<string, string | number | Filter | undefined>;
  /** The request body parsed as JSON, for routes with a `requestBody` (undefined when none was sent). */
  body: unknown;
  /** Aborted when the client's connection closes: long polls and held scopes end with it. */
  signal: AbortSignal;
  /** Lifts the idle timeout of this request's connection (a scope's hold is silent on purpose). */
  keepOpen: () => void;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI path template: `{name}` is one path segment. */
  path: string;
  operationId: string;
  summary: string;
  parameters: Parameter[];
  /** A JSON request body, validated by the handler (which answers 400 with `issues`). */
  requestBody?: { description: string; schema: object; required: boolean };
  response: {
    status: number;
    description: string;
    schema: object;
    contentType?: string;
    /** Other types the route answers with (a query parameter picks one). */
    more?: Array<{ contentType: string; schema: object }>;
    /** Response headers worth documenting. */
    headers?: Record<string, { description: string; schema: object }>;
  };
  /** Served without the bearer token (the UI's page and files, which hold no data); Host and cross-site checks still apply. */
  public?: true;
  /** Left out of the OpenAPI document (the UI's files). */
  hidden?: true;
  /** A value sent as JSON with `response.status`, a Reply, or a promise of either. */
  handler(call: RouteCall): unknown;
}

const FILTER: Parameter = {
  name: 'filter',
  in: 'query',
  description: 'filter expression: space-separated key:value terms, all of which must hold (keys protocol, operation, verdict, host, path, method, status, rule; -key:value negates); see docs/filter.md',
  schema: { type: 'string' },
};

export const ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/api/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This OpenAPI 3.1 document: every route of the control API',
    parameters: [],
    response: { status: 200, description: 'the OpenAPI document', schema: { type: 'object' } },
    handler: () => openApiDocument(),
  },
  {
    method: 'GET',
    path: '/api/status',
    operationId: 'getStatus',
    summary: 'Version, mode, seed, uptime and exchange counts of this run',
    parameters: [],
    response: {
      status: 200,
      description: 'the run and its counts',
      schema: {
        type: 'object',
        required: ['version', 'mode', 'seed', 'uptime', 'counts'],
        properties: {
          version: { type: 'string' },
          mode: { enum: ['forward', 'reverse'] },
          seed: { type: 'integer', description: 'the seed of chance decisions; --seed replays them' },
          uptime: { type: 'number', description: 'seconds since start' },
          counts: {
            type: 'object',
            required: ['seen', 'inFlight', 'finished', 'errors', 'byProtocol', 'verdicts'],
            properties: {
              seen: { type: 'integer', description: 'exchanges started' },
              inFlight: { type: 'integer' },
              finished: { type: 'integer' },
              errors: { type: 'integer', description: 'finished with a traffic error' },
              byProtocol: { ...COUNT_MAP, description: 'finished exchanges by protocol (fpse, mapihttp) or kind (http, tunnel, upgrade)' },
              verdicts: { ...COUNT_MAP, description: 'verdicts by level: ok, notice, violation' },
            },
          },
          ring: { type: 'object', properties: { capacity: { type: 'integer' }, held: { type: 'integer' } } },
          rules: { type: 'object', description: 'rules in force by source', properties: { file: { type: 'integer' }, runtime: { type: 'integer' }, scope: { type: 'integer' } } },
          scopes: { type: 'integer', description: 'live scopes' },
        },
      },
    },
    handler: ({ state }) => ({
      version: TOOL.version,
      mode: state.mode,
      seed: state.seed,
      uptime: Math.round((Date.now() - state.startedAt) / 10) / 100,
      counts: state.stats.snapshot(),
      ring: { capacity: state.ring.capacity, held: state.ring.size },
      rules: ruleCounts(state),
      scopes: state.scopes.size,
    }),
  },
  {
    method: 'GET',
    path: '/api/exchanges',
    operationId: 'listExchanges',
    summary: 'Summaries of the most recent finished exchanges, most recent first (from a ring of --control-ring records)',
    parameters: [{ name: 'limit', in: 'query', description: 'at most this many (default 100; never more than the ring holds)', schema: { type: 'integer', minimum: 1, default: 100 } }, FILTER],
    response: { status: 200, description: 'exchange summaries', schema: { type: 'array', items: { $ref: '#/components/schemas/ExchangeSummary' } } },
    handler: ({ state, args }) => {
      const filter = args.filter as Filter | undefined;
      return state.ring.recent(args.limit as number, filter === undefined ? undefined : (x) => filter.test(x)).map((x) => summarize(x, state.redactor));
    },
  },
  // Before /api/exchanges/{id}, which would take `har` for an id.
  ...EXPORT_ROUTES,
  {
    method: 'GET',
    path: '/api/exchanges/{id}',
    operationId: 'getExchange',
    summary: 'One whole exchange record, redacted as the journal redacts it, bodies included when captured: from the ring (the last --control-ring exchanges), else read back from the journal',
    parameters: [{ name: 'id', in: 'path', description: 'the exchange id (as listed by /api/exchanges)', schema: { type: 'string' } }],
    response: {
      status: 200,
      description: 'the record, in the journal line format (from the journal: its line as written, timings to the microsecond)',
      schema: { type: 'object', required: ['id', 'url', 'request', 'timings'] },
      headers: { 'X-Exchange-Source': { description: 'ring: held in memory; journal: read back from the journal file (the ring no longer held it)', schema: { enum: ['ring', 'journal'] } } },
    },
    handler: async ({ state, args }) => {
      const id = args.id as string;
      const x = state.ring.get(id);
      if (x !== undefined) return sourced(exchangeLine(state.redactor.exchange(x)), 'ring');
      const ring = `no exchange ${id} in the ring (it holds the last ${state.ring.capacity}; --control-ring N keeps more)`;
      if (state.journal === undefined) throw new ApiError(404, 'NOT_FOUND', `${ring}, and this run records no journal to look in (--no-record); list ids with GET /api/exchanges`);
      const found = await state.journal.find(id);
      if ('missing' in found) throw new ApiError(404, 'NOT_FOUND', `${ring}, nor in the journal: ${found.missing}`);
      return sourced(found.line, 'journal');
    },
  },
  {
    method: 'GET',
    path: '/api/conversations',
    operationId: 'listConversations',
    summary: 'Each FPSE conversation and MAPI/HTTP session: client and server builds, negotiated version, verdicts, rules applied, first and last seen',
    parameters: [],
    response: { status: 200, description: 'conversations, most recently active first', schema: { type: 'array', items: { $ref: '#/components/schemas/Conversation' } } },
    handler: ({ state }) => state.conversations.list(),
  },
  ...RULE_ROUTES,
  ...SCOPE_ROUTES,
  {
    method: 'POST',
    path: '/api/reset',
    operationId: 'reset',
    summary: 'Remove every runtime rule and scope, undo enable/disable of file rules, and start hit counters, rule counters (times, every, chance), the exchange ring and conversations afresh',
    parameters: [],
    response: { status: 200, description: 'what was removed', schema: { type: 'object', required: ['rules', 'scopes'], properties: { rules: { type: 'integer', description: 'runtime and scope rules removed' }, scopes: { type: 'integer' } } } },
    handler: ({ state }) => {
      const before = ruleCounts(state);
      const scopes = state.scopes.clear('reset');
      state.rules.reset();
      const rules = before.runtime + before.scope;
      state.hits.reset();
      state.ring.clear();
      state.conversations.clear();
      return { rules, scopes };
    },
  },
  {
    method: 'GET',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics: exchanges by mode, protocol and status class, durations, upstream failures, faults injected by rules, connections, bytes, verdicts, journal drops (docs/control-api.md "Metrics")',
    parameters: [],
    response: { status: 200, description: 'the Prometheus text exposition format 0.0.4', schema: { type: 'string' }, contentType: METRICS_CONTENT_TYPE },
    handler: async ({ state }) => new Reply(200, await state.metrics.scrape(), METRICS_CONTENT_TYPE),
  },
  EVENTS_ROUTE,
  ...UI_ROUTES,
];

/** A JSON answer that says where the record came from (X-Exchange-Source). */
function sourced(record: object, source: 'ring' | 'journal'): Reply {
  return new Reply(200, JSON.stringify(record), 'application/json; charset=utf-8', { 'X-Exchange-Source': source });
}

function ruleCounts(state: ControlState): { file: number; runtime: number; scope: number } {
  const counts = { file: 0, runtime: 0, scope: 0 };
  for (const { origin } of state.rules.list()) counts[origin.source] += 1;
  return counts;
}

let document: object | undefined;

/** The OpenAPI 3.1 document of ROUTES (built once), or of other routes (tests). */
export function openApiDocument(routes: readonly Route[] = ROUTES): object {
  if (routes !== ROUTES) return buildOpenApi(routes);
  document ??= buildOpenApi(ROUTES);
  return document;
}

export type Match = { route: Route; params: Record<string, string> } | { allow: string[] } | undefined;

/** The route for `method` and `path`; `{allow}` when the path exists under other methods. */
export function matchRoute(method: string, path: string, routes: readonly Route[] = ROUTES): Match {
  const segments = path.split('/');
  const allow: string[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, segments);
    if (params === undefined) continue;
    if (route.method === method) return { route, params };
    allow.push(route.method);
  }
  return allow.length > 0 ? { allow } : undefined;
}

function matchPath(template: string, segments: string[]): Record<string, string> | undefined {
  const parts = template.split('/');
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const segment = segments[i]!;
    if (part.startsWith('{') && part.endsWith('}')) {
      if (segment === '') return undefined;
      try {
        params[part.slice(1, -1)] = decodeURIComponent(segment);
      } catch {
        return undefined;
      }
    } else if (part !== segment) {
      return undefined;
    }
  }
  return params;
}

/** Parses the query by the route's parameters: an unknown or malformed one is a 400 that names the fix. */
export function parseArgs(route: Route, params: Record<string, string>, query: URLSearchParams): RouteCall['args'] {
  const args: RouteCall['args'] = { ...params };
  const known = route.parameters.filter((p) => p.in === 'query');
  const issues: string[] = [];
  for (const key of new Set(query.keys())) {
    if (!known.some((p) => p.name === key)) issues.push(`${key}: unknown query parameter; ${route.method} ${route.path} takes ${known.length === 0 ? 'none' : known.map((p) => p.name).join(', ')}`);
  }
  for (const p of known) {
    const text = query.get(p.name);
    if (p.schema.type === 'integer') {
      if (text === null) {
        args[p.name] = p.schema.default;
        continue;
      }
      const n = Number(text);
      const { minimum, maximum } = p.schema;
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || (minimum !== undefined && n < minimum) || (maximum !== undefined && n > maximum)) {
        issues.push(`${p.name}: "${text}" is not a whole number${minimum !== undefined ? ` ≥ ${minimum}` : ''}; e.g. ${p.name}=${p.schema.default ?? minimum ?? 1}`);
      } else {
        args[p.name] = n;
      }
    } else if (text === null) {
      if (p.schema.default !== undefined) args[p.name] = p.schema.default;
    } else if (p.schema.enum !== undefined && !p.schema.enum.includes(text)) {
      issues.push(`${p.name}: "${text}" is not one of ${p.schema.enum.join(', ')}; e.g. ${p.name}=${p.schema.default ?? p.schema.enum[0]!}`);
    } else {
      args[p.name] = text;
    }
  }
  if (issues.length > 0) throw new ApiError(400, 'BAD_QUERY', issues.length === 1 ? issues[0]! : `${issues.length} query problems`, issues);
  // The one filter grammar (core/filter.ts): a bad one is a 400 listing each issue with its fix.
  if (typeof args.filter === 'string') {
    const parsed = parseFilter(args.filter);
    if (!parsed.ok) throw new ApiError(400, 'BAD_FILTER', formatFilterIssue(parsed.issues[0]!), parsed.issues.map(formatFilterIssue));
    args.filter = parsed.filter;
  }
  return args;
}

/**
 * `connectControl`: a typed client for a running proxy's control API (docs/control-api.md
 * "Test suites"), one method per route, plus `withRules`, the scope that undoes itself.
 */
import { readFileSync } from 'node:fs';
import { ControlError } from './error.js';
import { CLIENT_ROUTES, routePath, type RouteName } from './routes.js';
import { runWithRules, type ScopeContext, type WithRulesOptions } from './scope.js';
import { createTransport, DEFAULT_TIMEOUT_MS, type CallOptions } from './transport.js';
import type { Conversation, ExchangeRecord, ExchangeSummary, ResetResult, Rule, RuleHits, RuleInfo, Scope, ScopeEnd, Status } from './types.js';

/** Where the server is and how to prove we may use it: the token, or the file `./proxy start` wrote it to. */
export type ConnectOptions = { url: string; token: string } | { url: string; tokenFile: string };

/** What every route of the control API offers (startProxy's answer has the same methods). */
export interface ControlMethods {
  /** The OpenAPI 3.1 document of every route. */
  openApi(): Promise<Record<string, unknown>>;
  status(): Promise<Status>;
  /** File, runtime and scope rules, each with its hit counter. */
  listRules(): Promise<RuleInfo[]>;
  /** A runtime rule, in force from the next request (400 BAD_RULE with `issues`, 409 CONFLICT on a taken id). */
  addRule(rule: Rule): Promise<{ id: string; rule: RuleInfo }>;
  replaceRule(id: string, rule: Rule): Promise<RuleInfo>;
  enableRule(id: string): Promise<RuleInfo>;
  /** Also for file rules, until their file reloads. */
  disableRule(id: string): Promise<RuleInfo>;
  /** Runtime rules (a scope's rule: its whole scope goes). */
  deleteRule(id: string): Promise<{ id: string; deleted: true }>;
  /**
   * The rule's hits. With `count` and `wait` (ms, at most 60000) the server answers when the
   * rule has been applied `count` times or `wait` has passed, whichever comes first: check `hits`.
   */
  ruleHits(id: string, options?: { count?: number; wait?: number }): Promise<RuleHits>;
  listScopes(): Promise<Scope[]>;
  /** Rules under a lease of `ttl` ms (default 60000): gone when it lapses unless renewed. */
  createScope(rules: Rule[], options?: { ttl?: number }): Promise<Scope>;
  getScope(id: string): Promise<Scope>;
  renewScope(id: string, options?: { ttl?: number }): Promise<Scope>;
  deleteScope(id: string): Promise<{ id: string; deleted: true }>;
  /**
   * Holds the scope on a connection of its own: the server removes it when that connection
   * closes (this process dies, or `signal` aborts). Resolves when the scope ends otherwise
   * (`deleted`, `expired`, `reset`), or with undefined once `signal` aborts. `onSent`: the request is on the wire.
   */
  holdScope(id: string, options: { signal: AbortSignal; onSent?: () => void }): Promise<ScopeEnd | undefined>;
  /** Recent finished exchanges, most recent first (`filter`: docs/filter.md). */
  listExchanges(options?: { limit?: number; filter?: string }): Promise<ExchangeSummary[]>;
  /** One whole exchange record, bodies included when captured. */
  getExchange(id: string): Promise<ExchangeRecord>;
  /** Each FPSE conversation and MAPI/HTTP session with its negotiated version and verdicts. */
  listConversations(): Promise<Conversation[]>;
  /** Removes runtime rules and scopes, zeroes hit counters, empties the ring and conversations. */
  reset(): Promise<ResetResult>;
  /**
   * Runs `fn` with `rules` in force, in a scope that is created first and deleted afterwards
   * whatever happens; while `fn` runs the scope's lease is renewed and the scope is held, so a
   * test process that crashes or is killed leaves no rule behind. Rejects when the scope ended
   * before `fn` returned (its rules were not in force throughout).
   */
  withRules<T>(rules: Rule[], fn: (scope: ScopeContext) => Promise<T> | T, options?: WithRulesOptions): Promise<T>;
}

export interface ControlClient extends ControlMethods {
  /** The control server's base URL. */
  readonly url: string;
  /** Closes the client's idle connections (calls still in flight carry on). */
  readonly close: () => void;
}

/** Long polls get this much longer than their `wait` before the client gives up. */
const LONG_POLL_SLACK_MS = 10_000;

export function connectControl(options: ConnectOptions): ControlClient {
  const base = parseBase(options.url);
  const token = 'token' in options ? options.token : readToken(options.tokenFile);
  const transport = createTransport(base, token);
  const call = <T>(name: RouteName, id?: string, callOptions?: CallOptions): Promise<T> => transport.call<T>(CLIENT_ROUTES[name][0], routePath(name, id), callOptions);

  const methods: ControlMethods = {
    openApi: () => call('openApi'),
    status: () => call('status'),
    listRules: () => call('listRules'),
    addRule: (rule) => call('addRule', undefined, { body: rule }),
    replaceRule: (id, rule) => call('replaceRule', id, { body: rule }),
    enableRule: (id) => call('enableRule', id, { body: { enabled: true } }),
    disableRule: (id) => call('disableRule', id, { body: { enabled: false } }),
    deleteRule: (id) => call('deleteRule', id),
    ruleHits: (id, { count, wait } = {}) => call('ruleHits', id, { query: { count, wait }, timeoutMs: (wait ?? 0) + LONG_POLL_SLACK_MS + DEFAULT_TIMEOUT_MS }),
    listScopes: () => call('listScopes'),
    createScope: (rules, { ttl } = {}) => call('createScope', undefined, { body: { rules, ...(ttl !== undefined && { ttl }) } }),
    getScope: (id) => call('getScope', id),
    renewScope: (id, { ttl } = {}) => call('renewScope', id, ttl === undefined ? {} : { body: { ttl } }),
    deleteScope: (id) => call('deleteScope', id),
    holdScope: (id, { signal, onSent }) => transport.hold<ScopeEnd>(routePath('holdScope', id), signal, onSent),
    listExchanges: ({ limit, filter } = {}) => call('listExchanges', undefined, { query: { limit, filter } }),
    getExchange: (id) => call('getExchange', id),
    listConversations: () => call('listConversations'),
    reset: () => call('reset'),
    withRules: (rules, fn, withOptions) => runWithRules(methods, rules, fn, withOptions),
  };
  return { ...methods, url: base.origin, close: () => transport.close() };
}

function parseBase(url: string): URL {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new ControlError(0, 'BAD_URL', `control url ${JSON.stringify(url)} is not a URL; pass the control URL of the listening line, e.g. http://127.0.0.1:8089`);
  }
  if (base.protocol !== 'http:') throw new ControlError(0, 'BAD_URL', `control url ${url} is not http://; the control server speaks plain HTTP on loopback, e.g. http://127.0.0.1:8089`);
  return base;
}

function readToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ControlError(0, 'TOKEN_FILE', `cannot read the control token file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); pass the tokenFile of the proxy's listening line (--control-token-file), or the token itself`, undefined, undefined, { cause: err });
  }
  if (token === '') throw new ControlError(0, 'TOKEN_FILE', `the control token file ${file} is empty; is the proxy still starting? pass the tokenFile of its listening line`);
  return token;
}

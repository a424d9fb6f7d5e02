/**
 * The control API's JSON shapes, as the OpenAPI document at `GET /api/openapi.json` describes
 * them (docs/control-api.md). Written by hand rather than imported from src/control, so that a
 * test process that only talks to a running proxy loads this folder and nothing else;
 * test/control-client.test.ts checks every route the client calls against the live document.
 */

/** `{error, code, issues?}`: every 4xx/5xx answer of the control server. */
export interface ErrorBody {
  error: string;
  code: string;
  issues?: string[];
}

export interface Verdict {
  /** kebab-case, stable: `accepted`, `rejected-client-too-old`, `echo-mismatch`, … */
  code: string;
  level: 'ok' | 'notice' | 'violation';
  message: string;
}

export interface Status {
  version: string;
  mode: 'forward' | 'reverse';
  seed: number;
  /** Seconds since start. */
  uptime: number;
  counts: {
    seen: number;
    inFlight: number;
    finished: number;
    errors: number;
    byProtocol: Record<string, number>;
    verdicts: Record<string, number>;
  };
  ring?: { capacity: number; held: number };
  /** Rules in force, by where they come from. */
  rules?: { file: number; runtime: number; scope: number };
}

/**
 * The `match:` map of a rule, as in the YAML files (docs/rules.md "Matchers"): every key given
 * must hold. Globs (`*.contoso.com`), `/regex/`, and version ranges (`<12.0.0.0`) as there.
 */
export interface RuleMatch {
  protocol?: 'fpse' | 'mapihttp' | 'http';
  host?: string;
  path?: string;
  method?: string | string[];
  /** FPSE: the `method=` name without its version, e.g. `server version`, `open service`. */
  fpseMethod?: string;
  /** MAPI/HTTP: `X-RequestType`, e.g. `Connect`. */
  requestType?: string;
  clientVersion?: string;
  serverVersion?: string;
  /** Header name to `true` (present), a value, or a `/regex/`. */
  header?: Record<string, string | true>;
  /** The client's address or network, e.g. `10.0.0.0/8`. */
  client?: string;
}

/**
 * One action, a map with a single key (docs/rules.md "Actions"), e.g. `{serverVersion: '5.0.2.6790'}`,
 * `{reject: 'client-too-old'}`, `{delay: 200}`, `{status: 503}`, `{setHeader: {...}}`.
 */
export type RuleAction = Record<string, unknown>;

/** A rule in the rule files' schema, as JSON (`id` optional: the proxy names it `runtime-N`). */
export interface Rule {
  id?: string;
  description?: string;
  /** Absent: every exchange. */
  match?: RuleMatch;
  actions: RuleAction[];
  /** Fire at most this many times. */
  times?: number;
  /** Fire with this probability (0..1), drawn from the run's seed. */
  chance?: number;
  /** Let this many matching exchanges pass first. */
  skip?: number;
  /** Fire on every Nth matching exchange. */
  every?: number;
  priority?: number;
  enabled?: boolean;
}

export interface RuleInfo {
  id: string;
  source: 'file' | 'runtime' | 'scope';
  /** The scope holding it (source `scope`). */
  scope?: string;
  enabled: boolean;
  /** Exchanges in which the rule was applied. */
  hits: number;
  /** The rule in words. */
  explain: string;
  priority: number;
  description?: string;
  file?: string;
  line?: number;
  definition: Rule & { id: string };
}

export interface RuleHits {
  id: string;
  hits: number;
  /** Ids of the exchanges it was applied in, most recent last, at most 100. */
  exchanges: string[];
}

export interface Scope {
  id: string;
  /** Ids of its rules. */
  rules: string[];
  /** Lease in milliseconds. */
  ttl: number;
  /** Epoch milliseconds at which the lease lapses unless renewed. */
  expiresAt: number;
  /** A client holds it (`GET /api/scopes/{id}/hold`): it goes when that connection closes. */
  held: boolean;
}

/** How a held scope ended, when it was not by the holder going away. */
export interface ScopeEnd {
  id: string;
  ended: 'deleted' | 'expired' | 'reset';
}

export interface ResetResult {
  /** Runtime and scope rules removed. */
  rules: number;
  /** Scopes removed. */
  scopes: number;
}

export interface ExchangeSummary {
  id: string;
  kind: 'http' | 'tunnel' | 'upgrade';
  method: string;
  /** Redacted as the journal redacts it. */
  url: string;
  status?: number;
  protocol?: 'fpse' | 'mapihttp';
  /** FPSE method or MAPI/HTTP request type. */
  operation?: string;
  versions?: { client?: string; server?: string; negotiated?: string; echo?: string };
  verdicts: Verdict[];
  /** Ids of the rules applied. */
  rules: string[];
  /** Milliseconds. */
  duration?: number;
  bytes: { request: number; response: number };
  /** The traffic error code, when the exchange failed. */
  error?: string;
}

/** One whole record in the journal line format (docs/recordings.md "The exchange record"). */
export interface ExchangeRecord {
  id: string;
  url: string;
  request: Record<string, unknown>;
  response?: Record<string, unknown>;
  timings: Record<string, unknown>;
  [field: string]: unknown;
}

export interface Conversation {
  host: string;
  protocol: 'fpse' | 'mapihttp';
  conversation: string;
  /** The client build as last stated. */
  client?: string;
  /** The server build as last stated. */
  server?: string;
  /** The last negotiated version (FPSE `server version`, MS-FPSE 1.7.1). */
  negotiated?: string;
  operations: Record<string, number>;
  verdicts: Array<{ code: string; level: string; message: string; count: number }>;
  rules: Array<{ id: string; outcome: string; count: number }>;
  exchanges: number;
  /** Epoch milliseconds. */
  firstSeen: number;
  lastSeen: number;
  clientsSeen: string[];
  serversSeen: string[];
}

/**
 * The control API's JSON as the UI reads it (docs/control-api.md; the OpenAPI document at
 * /api/openapi.json is the reference). Written out here rather than imported from src/control/,
 * whose modules type-check against Node's types, not the browser's.
 */
export interface Verdict {
  code: string;
  level: 'ok' | 'notice' | 'violation';
  message: string;
}

export interface Versions {
  client?: string;
  server?: string;
  negotiated?: string;
  echo?: string;
}

export interface ExchangeSummary {
  id: string;
  kind: 'http' | 'tunnel' | 'upgrade';
  method: string;
  url: string;
  status?: number;
  protocol?: 'fpse' | 'mapihttp';
  operation?: string;
  versions?: Versions;
  verdicts: Verdict[];
  rules: string[];
  duration?: number;
  bytes: { request: number; response: number };
  error?: string;
  /** When the request head arrived (epoch ms); absent from an older proxy's summaries. */
  start?: number;
  /** Set by the UI: the feed said 'started' and not yet 'finished'. */
  pending?: boolean;
  /** Set by the UI: when the row arrived (epoch ms), for the time column. */
  seen?: number;
}

/** [name, value, name, value, …] as the wire had them: order, case and repeats kept. */
export type RawHeaders = string[];

export interface JournalBody {
  size: number;
  encoding: 'utf8' | 'base64';
  data: string;
  truncated?: true;
}

export interface RuleChange {
  action: string;
  target: string;
  before?: string;
  after?: string;
}

export interface RuleRecord {
  id: string;
  explain: string;
  stage: string;
  outcome: 'applied' | 'passed' | 'skipped';
  reason?: string;
  changes: RuleChange[];
}

export interface ResponseHead {
  statusCode: number;
  statusMessage: string;
  httpVersion: string;
  rawHeaders: RawHeaders;
  source: 'upstream' | 'proxy' | 'rule';
}

/** One whole record: GET /api/exchanges/{id} (the journal's exchange line). */
export interface ExchangeRecord {
  id: string;
  kind: ExchangeSummary['kind'];
  client: { address: string; port: number; connection: number };
  url: string;
  request: { method: string; url: string; httpVersion: string; rawHeaders: RawHeaders };
  forwarded?: { path: string; rawHeaders: RawHeaders };
  response?: ResponseHead;
  upstreamResponse?: ResponseHead;
  upstream?: { localAddress?: string; localPort?: number; reused: boolean };
  protocol?: {
    protocol: 'fpse' | 'mapihttp';
    summary: string;
    conversation: string;
    operation: string;
    versions: Versions;
    facts: Record<string, unknown>;
    verdicts: Verdict[];
    problems: string[];
  };
  bytes: { request: number; response: number };
  timings: { start: number; upstreamConnected?: number; responseHead?: number; end?: number };
  intercepted?: boolean;
  hints?: string[];
  rules?: RuleRecord[];
  bodies?: { request?: JournalBody; response?: JournalBody };
  ended?: string;
  error?: { code: string; message: string; phase: string };
}

export interface Conversation {
  host: string;
  protocol: 'fpse' | 'mapihttp';
  conversation: string;
  client?: string;
  server?: string;
  negotiated?: string;
  operations?: Record<string, number>;
  verdicts: Array<{ code: string; level: string; message: string; count: number }>;
  rules: Array<{ id: string; outcome: string; count: number }>;
  exchanges: number;
  firstSeen: number;
  lastSeen: number;
}

export interface ApiErrorBody {
  error: string;
  code: string;
  issues?: string[];
}

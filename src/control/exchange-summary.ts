/**
 * The short form of an exchange that `GET /api/exchanges` lists (docs/control-api.md): what
 * a test asserts on without fetching the whole record. Built only when asked for.
 */
import { durationOf, type Exchange, type Verdict } from '../core/exchange.js';
import type { Redactor } from '../record/redact.js';

export interface ExchangeSummary {
  id: string;
  kind: Exchange['kind'];
  method: string;
  url: string;
  /** When the request head arrived, epoch milliseconds. */
  start: number;
  status?: number;
  protocol?: 'fpse' | 'mapihttp';
  operation?: string;
  /** The protocol facts in the words of the proxy's log line (`fpse "server version" client=… accepted`). */
  line?: string;
  versions?: { client?: string; server?: string; negotiated?: string; echo?: string };
  verdicts: Verdict[];
  /** Ids of the rules that were applied (not those that matched and passed). */
  rules: string[];
  /** Milliseconds from the request head to the end of the exchange. */
  duration?: number;
  bytes: { request: number; response: number };
  error?: string;
}

export function summarize(x: Exchange, redactor: Redactor): ExchangeSummary {
  const summary: ExchangeSummary = {
    id: x.id,
    kind: x.kind,
    method: x.request.method,
    url: redactor.url(x.url),
    start: Math.round(x.timings.start),
    verdicts: x.protocol?.verdicts ?? [],
    rules: (x.rules ?? []).filter((r) => r.outcome === 'applied').map((r) => r.id),
    bytes: { request: x.bytes.request, response: x.bytes.response },
  };
  if (x.response !== undefined) summary.status = x.response.statusCode;
  if (x.protocol !== undefined) {
    summary.protocol = x.protocol.protocol;
    summary.operation = x.protocol.operation;
    summary.line = x.protocol.summary;
    summary.versions = x.protocol.versions;
  }
  const duration = durationOf(x);
  if (duration !== undefined) summary.duration = Math.round(duration * 1000) / 1000;
  if (x.error !== undefined) summary.error = x.error.code;
  return summary;
}

/** JSON Schema (2020-12, as OpenAPI 3.1 uses it) of ExchangeSummary, for the OpenAPI document. */
export const EXCHANGE_SUMMARY_SCHEMA = {
  type: 'object',
  required: ['id', 'kind', 'method', 'url', 'start', 'verdicts', 'rules', 'bytes'],
  properties: {
    id: { type: 'string' },
    kind: { enum: ['http', 'tunnel', 'upgrade'] },
    method: { type: 'string' },
    url: { type: 'string', description: 'redacted as the journal redacts it' },
    start: { type: 'number', description: 'when the request head arrived, epoch milliseconds' },
    status: { type: 'integer' },
    protocol: { enum: ['fpse', 'mapihttp'] },
    operation: { type: 'string' },
    line: { type: 'string', description: "the protocol facts in the words of the proxy's log line" },
    versions: { type: 'object', properties: { client: { type: 'string' }, server: { type: 'string' }, negotiated: { type: 'string' }, echo: { type: 'string' } } },
    verdicts: { type: 'array', items: { $ref: '#/components/schemas/Verdict' } },
    rules: { type: 'array', items: { type: 'string' }, description: 'ids of the rules applied' },
    duration: { type: 'number', description: 'milliseconds' },
    bytes: { type: 'object', required: ['request', 'response'], properties: { request: { type: 'integer' }, response: { type: 'integer' } } },
    error: { type: 'string', description: 'the traffic error code, when the exchange failed' },
  },
} as const;

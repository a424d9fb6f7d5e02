/**
 * The Exchange record: one per proxied exchange (an HTTP request and its answer, a CONNECT
 * tunnel, or a protocol upgrade). It keeps what each side really sent, in raw form, and failures
 * as data, never as exceptions (docs/running.md "Fidelity" and docs/running.md "Failures are answers"; mitmproxy's Flow is the model).
 *
 * Views of a message:
 *   request           what the client sent
 *   forwarded         what the upstream received, present only when it differs from `request`
 *                     (hop-by-hop headers removed, Host rewritten, X-Forwarded-* added, rules)
 *   response          what the client received (from the upstream, or made by the proxy)
 *   upstreamResponse  what the upstream sent, present only when it differs from `response`
 */
import type { RawHeaders } from './raw-headers.js';

/** The phases of an exchange, named once and used in code, logs and docs (STYLE.md habit 5). */
export type Phase = 'connect' | 'request-head' | 'request-body' | 'response-head' | 'response-body' | 'tunnel';

export type ExchangeKind = 'http' | 'tunnel' | 'upgrade';

export interface TrafficError {
  /** Node's code where there is one (ECONNREFUSED, ECONNRESET, HPE_INVALID_CHUNK_SIZE), else ours. */
  code: string;
  message: string;
  phase: Phase;
}

export interface RequestHead {
  method: string;
  /** The request-target as received: absolute-form in forward mode, origin-form in reverse mode. */
  url: string;
  httpVersion: string;
  rawHeaders: RawHeaders;
}

export interface ForwardedHead {
  /** The request-target the upstream received (origin-form). */
  path: string;
  rawHeaders: RawHeaders;
}

/** The upstream connection an exchange rode on (see docs/running.md "Connection affinity", affinity). */
export interface UpstreamConnection {
  localAddress?: string;
  localPort?: number;
  /** True when the connection was kept from an earlier exchange of the same client connection. */
  reused: boolean;
}

export interface ResponseHead {
  statusCode: number;
  statusMessage: string;
  httpVersion: string;
  rawHeaders: RawHeaders;
  /** `upstream` when relayed, `proxy` when the proxy answered itself (errors), `rule` when a rule did (reject, respond). */
  source: 'upstream' | 'proxy' | 'rule';
}

export interface ByteCounts {
  /** Body bytes from the client (for tunnels and upgrades: every byte client → upstream). */
  request: number;
  /** Body bytes to the client (for tunnels and upgrades: every byte upstream → client). */
  response: number;
}

/** Epoch milliseconds with sub-millisecond precision. */
export interface Timings {
  start: number;
  upstreamConnected?: number;
  responseHead?: number;
  end?: number;
}

/** A judgement of one exchange against the protocol's rules (src/protocols/negotiation.ts). */
export interface Verdict {
  /** kebab-case, stable: `accepted`, `rejected-client-too-old`, `header-missing`, … */
  code: string;
  /** `ok`: as the spec requires; `notice`: worth knowing; `violation`: a side broke the spec. */
  level: 'ok' | 'notice' | 'violation';
  message: string;
}

/**
 * What a protocol observer decoded from an exchange, and the verdicts on it. The facts are
 * plain data, typed by the protocol layer (src/protocols/), which core does not know.
 */
export interface ProtocolRecord {
  protocol: 'mapihttp' | 'fpse';
  /** One line for logs, e.g. `fpse "server version" client=12.0.0.6415 server=14.0.0.6029 negotiated=12.0.0.6415 accepted`, `… problems=1` when decoding found problems. */
  summary: string;
  /** The conversation the exchange belongs to (FPSE: client + host; MAPI/HTTP: X-ClientInfo or session). */
  conversation: string;
  /** FPSE method name (`server version`) or MAPI/HTTP request type (`Connect`). */
  operation: string;
  /**
   * Builds as the sides stated them (FPSE numeric, MAPI/HTTP as the header token); `negotiated`
   * only where a negotiation happened (FPSE `server version`); `echo` the FPSE method-line
   * version where it is not that (MS-FPSE 1.7.1).
   */
  versions: { client?: string; server?: string; negotiated?: string; echo?: string };
  facts: object;
  verdicts: Verdict[];
  /** Parse problems: the traffic passed unchanged, but could not be decoded in full. */
  problems: string[];
}

/** One change a rule action made: what it touched, the text before and after. */
export interface RuleChange {
  action: string;
  /** `X-ClientApplication`, `request body: method`, `status`, `response body: server version` … */
  target: string;
  before?: string;
  after?: string;
}

/** What the record keeps of one rule that matched an exchange (src/rules/engine.ts). */
export interface RuleRecord {
  id: string;
  /** The rule's explain(), the same words `rules check` prints. */
  explain: string;
  /** Where it was decided. */
  stage: 'request-head' | 'request-body' | 'response-head' | 'response-body';
  /**
   * `applied`: its actions ran (see `changes`); `passed`: it matched but `skip`, `every`,
   * `chance` or `times` let the exchange through; `skipped`: it matched but could not run
   * (`reason` says why, e.g. a body over the buffer cap).
   */
  outcome: 'applied' | 'passed' | 'skipped';
  reason?: string;
  changes: RuleChange[];
}

/**
 * A body as it passed, captured up to the capture limit (`--capture-bytes`) when recording is on.
 * `size` is the real size; `truncated` says the capture stopped short of it (never silently).
 */
export interface CapturedBody {
  bytes: Buffer;
  size: number;
  truncated: boolean;
}

/** One WebSocket message (RFC 6455 §5): data frames joined, control frames as they came. */
export interface WebSocketMessage {
  from: 'client' | 'server';
  /** Epoch milliseconds of the message's final frame. */
  time: number;
  /** 1 text, 2 binary, 8 close, 9 ping, 10 pong (RFC 6455 §5.2). */
  opcode: number;
  /** Payload bytes after unmasking, as they came off the wire (compressed when `compressed`). */
  data: Buffer;
  /** Real payload size. */
  size: number;
  /** Only the first bytes were kept (the capture limit). */
  truncated?: boolean;
  /** RSV1 set under permessage-deflate (RFC 7692 §6): `data` is the compressed payload. */
  compressed?: boolean;
}

/** What a WebSocket connection carried, as far as the capture limit allows. */
export interface WebSocketRecord {
  messages: WebSocketMessage[];
  /** Messages each way, kept or not. */
  counts: { client: number; server: number };
  /** Messages seen but not kept, once the capture limit for the connection was spent. */
  dropped: number;
  /** Frames that could not be parsed; parsing stops there, bytes still flow. */
  problems: string[];
}

export interface ClientInfo {
  address: string;
  port: number;
  /** Id of the client connection, shared by every exchange on it. */
  connection: number;
}

export interface Exchange {
  id: string;
  kind: ExchangeKind;
  client: ClientInfo;
  /** The absolute URL addressed (`http://host:port/path`), or `host:port` for a tunnel. */
  url: string;
  request: RequestHead;
  forwarded?: ForwardedHead;
  response?: ResponseHead;
  upstreamResponse?: ResponseHead;
  upstream?: UpstreamConnection;
  /** Present when a protocol observer claimed the exchange (MAPI/HTTP, FPSE). */
  protocol?: ProtocolRecord;
  bytes: ByteCounts;
  timings: Timings;
  /**
   * The proxy terminated the client's TLS (an intercepted CONNECT): for HTTP exchanges, the
   * request came decrypted out of that tunnel; for the tunnel itself, it was not passed through.
   */
  intercepted?: boolean;
  /** Advice about what the proxy saw, e.g. Extended Protection refusing auth under interception. */
  hints?: string[];
  /** Rules that matched, in the order they were met: applied (with their changes), passed or skipped. */
  rules?: RuleRecord[];
  /** Bodies as the client sent and received them, when the app captures them (recording on). */
  bodies?: { request?: CapturedBody; response?: CapturedBody };
  /** Messages of a WebSocket upgrade the proxy could read (plain, or inside an intercepted tunnel). */
  websocket?: WebSocketRecord;
  /** How a tunnel or upgraded connection ended (`client-closed`, `upstream-closed`, `error`). */
  ended?: string;
  error?: TrafficError;
}

/** Sub-millisecond wall-clock time. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

const runId = Math.floor(Math.random() * 36 ** 5).toString(36).padStart(5, '0');
let sequence = 0;

/** Ids are unique within a run and carry a run prefix so journals of different runs can merge. */
export function nextExchangeId(): string {
  sequence += 1;
  return `${runId}-${sequence}`;
}

export function createExchange(kind: ExchangeKind, client: ClientInfo, request: RequestHead): Exchange {
  return {
    id: nextExchangeId(),
    kind,
    client,
    url: request.url,
    request,
    bytes: { request: 0, response: 0 },
    timings: { start: now() },
  };
}

/** Records a failure; the first one wins, since later ones are usually its consequences. */
export function failExchange(exchange: Exchange, error: TrafficError): void {
  exchange.error ??= error;
}

/** Duration in milliseconds, once the exchange has ended. */
export function durationOf(exchange: Exchange): number | undefined {
  return exchange.timings.end === undefined ? undefined : exchange.timings.end - exchange.timings.start;
}

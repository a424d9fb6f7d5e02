/**
 * The shapes the rules engine works with once a rule file has been validated (load.ts) and
 * compiled (compile.ts): trusted objects that can `explain()` themselves (STYLE.md habit 4), the
 * facts matchers read, and what the record keeps of each rule an exchange met.
 */
import type { RawHeaders } from '../core/raw-headers.js';
import type { Version } from '../core/version.js';
import type { Protocol } from './field-checks.js';

export type { Protocol } from './field-checks.js';

/**
 * Where in an exchange a rule can be decided (STYLE.md habit 5): the latest facts its matchers
 * need. FPSE facts come from the first line of the request body and from the response packet;
 * MAPI/HTTP facts are all in the heads.
 */
export type Stage = 'request-head' | 'request-body' | 'response-head' | 'response-body';

/** When an action runs: before the request is forwarded, or before the response head is written. */
export type ActionSide = 'request' | 'response';

/**
 * What the matchers of one exchange read. Filled as the exchange moves on; a fact that is
 * `undefined` is not known yet, `null` means known to be absent (a plain HTTP exchange has no
 * client version).
 */
export interface MatchFacts {
  method: string;
  /** Lower-case host name without port (`[…]` stripped from IPv6). */
  host: string;
  /** Origin-form path with query, as sent. */
  path: string;
  /** The client's IP address (IPv4-mapped IPv6 unwrapped). */
  client: string;
  requestHeaders: RawHeaders;
  protocol: Protocol;
  /** MAPI/HTTP `X-RequestType`, canonical spelling (`Connect`); null for other protocols. */
  requestType?: string | null;
  /** FPSE method name (`server version`, `open service`); null when there is none. */
  fpseMethod?: string | null;
  clientVersion?: Version | null;
  serverVersion?: Version | null;
  /** Response status once the response head is in. */
  status?: number;
  responseHeaders?: RawHeaders;
}

/** The record's shapes live in core (the Exchange carries them); rules fill them. */
export type { RuleChange as Change, RuleRecord as AppliedRule } from '../core/exchange.js';

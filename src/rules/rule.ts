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

/** One change an action made, for the record: what it touched, the text before and after. */
export interface Change {
  action: string;
  /** `X-ClientApplication`, `request body: method line`, `status`, `response body: server version` … */
  target: string;
  before?: string;
  after?: string;
}

/** What the record of an exchange keeps of one rule that matched it. */
export interface AppliedRule {
  id: string;
  /** The rule's explain(), the same words `rules check` prints. */
  explain: string;
  /** Where it was decided. */
  stage: Stage;
  /**
   * `applied`: its actions ran (see `changes`); `passed`: it matched but `skip`, `every`,
   * `chance` or `times` let the exchange through; `skipped`: it matched but could not run
   * (`reason` says why, e.g. a body over the buffer cap).
   */
  outcome: 'applied' | 'passed' | 'skipped';
  reason?: string;
  changes: Change[];
}

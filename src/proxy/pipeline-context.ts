/**
 * The seam between the server and one HTTP exchange (http-exchange.ts): what the pipeline is
 * given (`PipelineContext`, built once by server.ts) and what the connection layer may ask of an
 * exchange in flight (`InFlight`, held by client-connection.ts). Types only, so the pipeline's
 * helpers can name what they read of the context without importing the pipeline itself.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { RuleChange } from '../core/exchange.js';
import type { ExchangeEvents } from '../core/exchange-events.js';
import type { Origin } from '../core/origin.js';
import type { Negotiations } from '../protocols/negotiation.js';
import type { RuleSet } from '../rules/compile.js';
import type { WindowsAuthHints } from './auth-hint.js';
import type { OwnAddresses } from './own-addresses.js';
import type { ProxyAnswer } from './respond.js';
import type { UpstreamTls } from './upstream-tls.js';

export interface PipelineContext {
  events: ExchangeEvents;
  /** Reverse mode when set. */
  target: Origin | undefined;
  keepHost: boolean;
  forwarded: boolean;
  upstreamTimeoutMs: number;
  log: Logger;
  /** True once the server is shutting down: answers then close their connection. */
  closing(): boolean;
  /** Protocol verdicts across exchanges (per conversation). */
  negotiations: Negotiations;
  /** The rules in force now; read once per exchange, so a reload never changes one in flight. */
  rules(): RuleSet;
  /** Trust and verification for https:// upstreams. */
  upstreamTls: UpstreamTls;
  /** The Extended Protection hint for intercepted Windows auth (auth-hint.ts). */
  authHints: WindowsAuthHints;
  /** Body bytes captured per direction onto the record; 0 captures nothing. */
  captureBytes: number;
  /**
   * A journal listens to 'finished': the last bytes of every response are held until the
   * record is out (finish-record.ts, holdLastBytes).
   */
  recording: boolean;
  /** Secrets out of rule changes before they are logged. */
  redactChanges(changes: RuleChange[]): RuleChange[];
  /** The proxy's own listening addresses: a request to one of them would loop. */
  own: OwnAddresses;
}

/** What the connection layer may need to know about an exchange in flight on a socket. */
export interface InFlight {
  /** The whole request has been read: a parse error after it belongs to the next request. */
  requestComplete(): boolean;
  /** The client's request stream broke (a parse error in its body): answer if still possible. */
  clientRequestFailed(err: NodeJS.ErrnoException, answer: ProxyAnswer): void;
  /** An upstream socket of this client connection sat idle past --upstream-timeout. */
  upstreamTimedOut(socket: Socket): void;
}

/**
 * What a relayed response head means for the client's connection, beyond its fields (step 9 of
 * http-exchange.ts): the client connection persists exactly when the upstream's does (docs/running.md
 * "Connection affinity"), and the upstream's 1xx interim answers reach the clients
 * that understand them (RFC 9110 §15.2).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toPairs } from '../core/raw-headers.js';
import { wantsKeepAlive } from './hop-by-hop.js';
import type { PipelineContext } from './pipeline-context.js';

/** A 1xx answer as node:http's 'information' event gives it. */
export interface Informational {
  statusCode: number;
  rawHeaders: string[];
}

/**
 * The client connection persists exactly when the upstream's does (affinity), and the
 * answer says `Connection: close` whenever it will not.
 */
export function decideKeepAlive(
  ctx: Pick<PipelineContext, 'closing'>,
  req: IncomingMessage,
  res: ServerResponse & { _expect_continue?: boolean },
  proxyRes: IncomingMessage,
): void {
  if (!wantsKeepAlive(proxyRes.httpVersion, proxyRes.rawHeaders) || ctx.closing()) {
    res.shouldKeepAlive = false;
    return;
  }
  // Node drops keep-alive after a final status to an `Expect: 100-continue` request that got
  // no 100 ("they may put extra bytes on the wire"). The upstream has already made that call:
  // it kept its connection, so the body the client may still send flows on to it as it would
  // on a direct connection. .NET (EWS) clients send Expect by default, and NTLM needs the
  // connection to survive the 401.
  res._expect_continue = false;
  // HTTP/1.1 keeps connections by default: spare the client a `Connection: keep-alive` the
  // upstream did not send (1.0 clients need it).
  if (res.shouldKeepAlive && req.httpVersion !== '1.0') res.removeHeader('Connection');
}

/** Relays a 1xx while the client's response head is still to come. */
export function relayInformational(req: IncomingMessage, res: ServerResponse, info: Informational): void {
  // HTTP/1.0 clients do not understand 1xx (RFC 9110 §15.2).
  if (res.headersSent || req.httpVersion === '1.0') return;
  if (info.statusCode === 100) res.writeContinue();
  else if (info.statusCode === 102) res.writeProcessing();
  else if (info.statusCode === 103) res.writeEarlyHints(Object.fromEntries(toPairs(info.rawHeaders)));
}

/**
 * What the proxy does with input Node's HTTP parser refuses (its 'clientError'): a reset or a
 * client hanging up mid-body ends the exchange in flight; a bad body is that exchange's error; a
 * bad, truncated or slow request head is an exchange of its own (400, 431, 505 or 408) with a
 * record, answered after the pipelined answers before it (RFC 9112 §9.3.2), on a connection that
 * then closes. The record goes out before the answer does (a `kill -9` between them must not
 * lose it), and the debug dump of the head is redacted.
 */
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { createExchange, failExchange, now } from '../core/exchange.js';
import type { ExchangeEvents } from '../core/exchange-events.js';
import type { ClientConnection } from './client-connection.js';
import { answerFor, malformedHead, type ClientError } from './malformed-head.js';
import { writeRawAnswer, type ProxyAnswer, type SentAnswer } from './respond.js';

export interface ClientErrorContext {
  connections: Map<Duplex, ClientConnection>;
  events: ExchangeEvents;
  log: Logger;
  /** --head-timeout, for the 408's message. */
  headTimeoutMs: number;
  /** Redacts the first bytes of a bad head before the debug log shows them. */
  redactHead: (text: string) => string;
}

/** The server's 'clientError' listener. */
export function clientErrorHandler(ctx: ClientErrorContext): (err: ClientError, socket: Duplex) => void {
  /** Sockets already answered with a 4xx: the parser keeps failing on the bytes that follow. */
  const refused = new WeakSet<Duplex>();
  const { connections, events, log, headTimeoutMs, redactHead } = ctx;

  return (err: ClientError, socket: Duplex): void => {
    const conn = connections.get(socket);
    const code = err.code ?? 'EPROTO';
    if (refused.has(socket)) return;
    // A TLS handshake that failed (a client refusing our certificate) is not an HTTP request:
    // the tunnel's own record says what happened (intercept.ts).
    if (socket instanceof tls.TLSSocket && (code.startsWith('ERR_SSL_') || (err as { library?: string }).library === 'SSL routines')) {
      socket.destroy();
      return;
    }
    // Every request in flight has been read whole: the bytes that failed are the next request's
    // head, pipelined behind them (RFC 9112 §9.3.2). Otherwise they are a body in flight.
    let nextHead = true;
    for (const inFlight of conn?.active ?? []) if (!inFlight.requestComplete()) nextHead = false;
    // A reset, or a client that hung up mid-body (Node reports the early EOF as a parse error),
    // is a client going away: the exchange in flight records CLIENT_ABORTED as it closes.
    if (code === 'ECONNRESET' || code === 'EPIPE' || (code === 'HPE_INVALID_EOF_STATE' && !nextHead)) {
      socket.destroy();
      return;
    }
    // With requestTimeout 0, Node's request timeout is the head timeout (headersTimeout above):
    // a request head that did not arrive in time. It is its own exchange (408 and a record),
    // never an error of an exchange in flight before it on the connection.
    const headTimedOut = code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT';
    const answer: ProxyAnswer = headTimedOut ? { status: 408, code, message: `the request head did not arrive within ${headTimeoutMs / 1000} s (--head-timeout)` } : answerFor(code, err);
    if (conn && !nextHead && !headTimedOut) {
      // The error is in the body of an exchange in flight (bad chunked encoding): that exchange
      // records it, answers if it still can, and the connection closes after.
      refused.add(socket);
      for (const inFlight of conn.active) inFlight.clientRequestFailed(err, answer);
      return;
    }
    // The request head itself was bad (or cut short by the client's EOF): its own exchange,
    // answered after the pipelined answers before it, on a connection that then closes.
    refused.add(socket);
    const exchange = createExchange('http', conn?.info ?? { address: '', port: 0, connection: 0 }, malformedHead(err, (conn?.active.size ?? 0) > 0));
    exchange.url = '';
    failExchange(exchange, { code: answer.code, message: answer.message, phase: 'request-head' });
    events.emit('started', exchange);
    // The record goes out before the answer does (a `kill -9` between them must not lose it).
    const record = (sent?: SentAnswer): void => {
      if (sent !== undefined) {
        exchange.response = sent.head;
        exchange.bytes.response = sent.bodyBytes;
      }
      exchange.timings.end = now();
      events.emit('finished', exchange);
    };
    const respond = (): void => {
      exchange.timings.responseHead = now();
      if (socket.writable) writeRawAnswer(socket, answer, record);
      else {
        socket.destroy();
        record();
      }
    };
    if (headTimedOut && conn && conn.active.size > 0) {
      // A pipelined head that timed out behind a response still being written: a 408 now would
      // land inside that response, so the connection is closed instead (RFC 9112 §9.6).
      socket.destroy();
      record();
    } else if (conn) {
      // A bad head pipelined behind valid requests is answered after their answers.
      conn.whenIdle(respond);
    } else respond();
    if (headTimedOut) log.info({ xid: exchange.id, connection: conn?.id, headTimeoutMs }, 'request head timed out: 408');
    if (log.isLevelEnabled('debug')) {
      // As they came, but with the credentials redacted like any other record (issue 21 finding 3).
      const bytes = err.rawPacket?.subarray(0, 64).toString('latin1');
      log.debug({ err: { code, message: err.message }, bytes: bytes === undefined ? undefined : redactHead(bytes) }, 'malformed request');
    }
  };
}

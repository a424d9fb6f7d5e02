/**
 * One HTTP exchange, from the client's request head to the end of the response:
 *
 *   1 open      Exchange record, event 'started'; destination from the request-target
 *               (forward) or --target (reverse)
 *   2 observe   the protocol observer that claims the head, if any (src/protocols/)
 *   4 read      request body bytes go to the observer as they pass (FPSE: first line only)
 *   6 forward   head rebuilt from raw headers; body streamed through upstream.ts on the
 *               client connection's own upstream connection
 *   7 observe   response head, then body chunks as they pass (MAPI/HTTP meta-tags)
 *   9 write     1xx relayed; response head written from raw headers; body streamed
 *  10 close     timings, error-as-data, verdicts (negotiation.ts), event 'finished'
 *
 * (Steps 3, 5 and 8, plan and decide, belong to the rules engine, still to come.)
 * Failures never throw: they become `exchange.error` plus the answer a client can act on
 * (502 refused, 504 silent upstream) or a closed connection when a response was already under
 * way, so a truncated body never looks complete (DESIGN.md invariant 4).
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { createExchange, failExchange, now, type Exchange, type Phase } from '../core/exchange.js';
import type { Negotiations } from '../protocols/negotiation.js';
import { observeRequest, type Observation } from '../protocols/observer.js';
import type { ExchangeEvents } from '../core/exchange-events.js';
import type { Origin } from '../core/origin.js';
import { getHeader, toPairs } from '../core/raw-headers.js';
import type { ClientConnection } from './client-connection.js';
import { resolveDestination } from './destination.js';
import { planForward } from './forward-head.js';
import { stripHopByHop, wantsKeepAlive } from './hop-by-hop.js';
import { requestHeadOf } from './request-head.js';
import { sendAnswer, type ProxyAnswer } from './respond.js';
import { openUpstreamRequest } from './upstream.js';

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
}

/** What the connection layer may need to know about an exchange in flight on a socket. */
export interface InFlight {
  /** The client's request stream broke (a parse error in its body): answer if still possible. */
  clientRequestFailed(err: NodeJS.ErrnoException, answer: ProxyAnswer): void;
}

export function handleHttpExchange(ctx: PipelineContext, conn: ClientConnection, req: IncomingMessage, res: ServerResponse): void {
  new HttpExchange(ctx, conn, req, res).start();
}

class HttpExchange implements InFlight {
  private readonly exchange: Exchange;
  private proxyReq: ClientRequest | undefined;
  private proxyRes: IncomingMessage | undefined;
  /** The protocol observer that claimed this exchange, if any (steps 2, 4 and 7). */
  private observation: Observation | undefined;
  /** The proxy answered (or gave up on) the client itself; upstream events no longer matter. */
  private settled = false;
  private finished = false;

  constructor(
    private readonly ctx: PipelineContext,
    private readonly conn: ClientConnection,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.exchange = createExchange('http', conn.info, requestHeadOf(req));
  }

  start(): void {
    const { ctx, conn, req, res, exchange } = this;
    conn.inFlight += 1;
    conn.active.add(this);
    ctx.events.emit('started', exchange);
    // The proxy adds nothing the upstream did not send: no Date of its own.
    res.sendDate = false;
    res.once('close', () => this.finish());
    res.on('error', () => undefined); // a client socket error surfaces as 'close' above
    req.on('data', (chunk: Buffer) => {
      exchange.bytes.request += chunk.length;
      if (this.observation?.wantsRequestBody()) this.observation.requestBody(chunk);
    });
    req.once('end', () => this.observation?.requestEnd());

    const dest = resolveDestination(exchange.request.url, ctx.target);
    if (!dest.ok) {
      this.answer(dest, 'request-head');
      req.resume();
      return;
    }
    const rawHeaders = planForward(exchange, dest, ctx);
    this.observation = observeRequest({ method: exchange.request.method, path: dest.path, rawHeaders: req.rawHeaders });
    const proxyReq = openUpstreamRequest({
      origin: dest.origin,
      method: exchange.request.method,
      path: dest.path,
      rawHeaders,
      agent: conn.agent,
    });
    this.proxyReq = proxyReq;
    proxyReq.on('error', (err: NodeJS.ErrnoException) => this.onUpstreamError(err));
    proxyReq.once('socket', (socket: Socket) => this.onUpstreamSocket(proxyReq, socket));
    proxyReq.once('response', (proxyRes: IncomingMessage) => this.onUpstreamResponse(proxyRes));
    proxyReq.on('information', (info: { statusCode: number; rawHeaders: string[] }) => this.relayInformational(info));
    // Idle timeout: no bytes either way for this long (a long poll's PENDING lines reset it).
    proxyReq.setTimeout(ctx.upstreamTimeoutMs, () => this.onUpstreamTimeout());
    // The body streams as it arrives, with backpressure both ways.
    req.pipe(proxyReq);
  }

  clientRequestFailed(err: NodeJS.ErrnoException, answer: ProxyAnswer): void {
    failExchange(this.exchange, { code: err.code ?? 'EPROTO', message: err.message, phase: 'request-body' });
    this.abortUpstream();
    // The parser cannot find the next request after a broken body: this connection is done.
    this.res.shouldKeepAlive = false;
    if (!this.res.headersSent) this.answer(answer, 'request-body');
    else this.res.destroy();
    this.settled = true;
  }

  private onUpstreamSocket(proxyReq: ClientRequest, socket: Socket): void {
    const connected = (): void => {
      this.exchange.timings.upstreamConnected = now();
      this.exchange.upstream = { localAddress: socket.localAddress, localPort: socket.localPort, reused: proxyReq.reusedSocket };
    };
    if (socket.connecting) socket.once('connect', connected);
    else connected();
  }

  private relayInformational(info: { statusCode: number; rawHeaders: string[] }): void {
    const { res, req } = this;
    // HTTP/1.0 clients do not understand 1xx (RFC 9110 §15.2).
    if (this.settled || res.headersSent || req.httpVersion === '1.0') return;
    if (info.statusCode === 100) res.writeContinue();
    else if (info.statusCode === 102) res.writeProcessing();
    else if (info.statusCode === 103) res.writeEarlyHints(Object.fromEntries(toPairs(info.rawHeaders)));
  }

  private onUpstreamResponse(proxyRes: IncomingMessage): void {
    const { res, exchange } = this;
    this.proxyRes = proxyRes;
    proxyRes.on('error', () => undefined); // reported through 'close' below
    if (this.settled) {
      proxyRes.destroy();
      return;
    }
    exchange.timings.responseHead = now();
    const statusCode = proxyRes.statusCode ?? 502;
    const statusMessage = proxyRes.statusMessage ?? '';
    const stripped = stripHopByHop(proxyRes.rawHeaders);
    exchange.response = { statusCode, statusMessage, httpVersion: proxyRes.httpVersion, rawHeaders: stripped.headers, source: 'upstream' };
    if (stripped.removed.length > 0) {
      exchange.upstreamResponse = { ...exchange.response, rawHeaders: proxyRes.rawHeaders };
    }

    this.decideKeepAlive(proxyRes);
    // A body delimited by the upstream closing its connection is relayed the same way instead of
    // being re-framed as chunked (RFC 9112 §6.3, rule 8).
    if (isCloseDelimited(proxyRes, this.req.method)) res.useChunkedEncodingByDefault = false;
    try {
      res.writeHead(statusCode, statusMessage, stripped.headers);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      failExchange(exchange, { code: e.code ?? 'BAD_UPSTREAM_HEAD', message: e.message, phase: 'response-head' });
      proxyRes.destroy();
      this.answer({ status: 502, code: e.code ?? 'BAD_UPSTREAM_HEAD', message: `the upstream ${exchange.url} sent a response head that cannot be relayed: ${e.message}` }, 'response-head');
      return;
    }
    const observation = this.observation;
    observation?.responseHead(statusCode, proxyRes.rawHeaders);
    if (observation?.wantsResponseBody()) {
      // The observer sees each chunk as it passes: no buffering, no delay (invariant 1).
      proxyRes.on('data', (chunk: Buffer) => {
        exchange.bytes.response += chunk.length;
        observation.responseBody(chunk);
      });
    } else {
      proxyRes.on('data', (chunk: Buffer) => (exchange.bytes.response += chunk.length));
    }
    proxyRes.pipe(res, { end: false });
    proxyRes.once('end', () => {
      if (proxyRes.rawTrailers.length > 0) res.addTrailers(toPairs(proxyRes.rawTrailers));
      res.end();
    });
    proxyRes.once('close', () => {
      if (proxyRes.complete || this.settled) return;
      // Reset or closed mid-body: close the client's connection too, so it cannot mistake a
      // truncated body for a whole one.
      failExchange(exchange, { code: 'ECONNRESET', message: 'the upstream closed the connection before the response was complete', phase: 'response-body' });
      this.settled = true;
      res.destroy();
    });
  }

  /**
   * The client connection persists exactly when the upstream's does (affinity), and the
   * answer says `Connection: close` whenever it will not.
   */
  private decideKeepAlive(proxyRes: IncomingMessage): void {
    const res = this.res as ServerResponse & { _expect_continue?: boolean };
    if (!wantsKeepAlive(proxyRes.httpVersion, proxyRes.rawHeaders) || this.ctx.closing()) {
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
    if (res.shouldKeepAlive && this.req.httpVersion !== '1.0') res.removeHeader('Connection');
  }

  private onUpstreamError(err: NodeJS.ErrnoException): void {
    if (this.settled) return;
    const { exchange } = this;
    const phase: Phase =
      exchange.timings.upstreamConnected === undefined ? 'connect' : this.proxyRes === undefined ? 'response-head' : 'response-body';
    const code = err.code ?? 'EUPSTREAM';
    failExchange(exchange, { code, message: err.message, phase });
    this.abortUpstream();
    if (this.res.headersSent) {
      this.settled = true;
      this.res.destroy();
      return;
    }
    const where = originOf(exchange.url);
    const message =
      phase === 'connect'
        ? `could not connect to the upstream ${where}: ${code} (${err.message})`
        : `the upstream ${where} failed before answering: ${code} (${err.message})`;
    this.answer({ status: 502, code, message }, phase);
  }

  private onUpstreamTimeout(): void {
    if (this.settled) return;
    const seconds = this.ctx.upstreamTimeoutMs / 1000;
    const phase: Phase = this.proxyRes === undefined ? 'response-head' : 'response-body';
    failExchange(this.exchange, { code: 'UPSTREAM_TIMEOUT', message: `no data from the upstream for ${seconds} s (--upstream-timeout)`, phase });
    this.abortUpstream();
    if (this.res.headersSent) {
      this.settled = true;
      this.res.destroy();
      return;
    }
    const where = originOf(this.exchange.url);
    this.answer({ status: 504, code: 'UPSTREAM_TIMEOUT', message: `the upstream ${where} sent nothing for ${seconds} s; raise --upstream-timeout if it needs longer` }, phase);
  }

  private answer(answer: ProxyAnswer, phase: Phase): void {
    this.settled = true;
    if (answer.status >= 400) failExchange(this.exchange, { code: answer.code, message: answer.message, phase });
    this.exchange.timings.responseHead ??= now();
    const sent = sendAnswer(this.res, answer);
    this.exchange.response = sent.head;
    this.exchange.bytes.response = sent.bodyBytes;
  }

  private abortUpstream(): void {
    this.proxyRes?.destroy();
    this.proxyReq?.destroy();
  }

  private judge(observation: Observation): void {
    try {
      this.exchange.protocol = this.ctx.negotiations.judge(this.exchange, observation);
    } catch (err) {
      // Parsers never throw by contract; if one does, the exchange is still recorded and the
      // proxy stays up (DESIGN.md invariant 4).
      this.ctx.log.error({ err, xid: this.exchange.id }, 'protocol observer failed');
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const { exchange, res, req } = this;
    if (!res.writableFinished) {
      // The client went away first: nothing is left to deliver, so free the upstream at once.
      const phase: Phase = !req.complete ? 'request-body' : res.headersSent ? 'response-body' : 'response-head';
      failExchange(exchange, { code: 'CLIENT_ABORTED', message: 'the client closed the connection before the exchange was complete', phase });
      this.abortUpstream();
    }
    exchange.timings.end = now();
    if (this.observation) this.judge(this.observation);
    this.conn.inFlight -= 1;
    this.conn.active.delete(this);
    this.ctx.events.emit('finished', exchange);
  }
}

/** RFC 9112 §6.3: no Content-Length, no Transfer-Encoding, and a status that has a body. */
function isCloseDelimited(res: IncomingMessage, method: string | undefined): boolean {
  const status = res.statusCode ?? 0;
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) return false;
  return getHeader(res.rawHeaders, 'content-length') === undefined && getHeader(res.rawHeaders, 'transfer-encoding') === undefined;
}

function originOf(url: string): string {
  const match = /^[a-z]+:\/\/[^/]*/i.exec(url);
  return match ? match[0] : url;
}

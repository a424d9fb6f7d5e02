/**
 * One HTTP exchange, from the client's request head to the end of the response:
 *
 *   1 open      Exchange record, event 'started'; destination from the request-target
 *               (forward) or --target (reverse)
 *   2 observe   the protocol observer that claims the head, if any (src/protocols/)
 *   3 plan      rules that could match this host and protocol (none: steps 4-9 stream as is)
 *   4 read      request body bytes go to the observer as they pass (FPSE: first line only);
 *               held until the first line is in when an undecided rule reads it
 *   5 decide    request-side actions edit a draft of the request; a final action (reject,
 *               respond, close, reset, hang) ends the exchange here
 *   6 forward   head rebuilt from raw headers; body streamed through upstream.ts on the
 *               client connection's own upstream connection
 *   7 observe   response head, then body chunks as they pass (MAPI/HTTP meta-tags); an FPSE
 *               packet is collected (capped) when a rule reads or rewrites it
 *   8 decide    response-side actions edit a draft of the response
 *   9 write     1xx relayed; response head written from raw headers; body streamed
 *  10 close     timings, error-as-data, verdicts (negotiation.ts), event 'finished'
 *
 * Under rules, the observer sees the request as forwarded and the response as delivered, so the
 * verdicts judge the negotiation the client took part in; the record keeps both sides of every
 * change (`forwarded`, `upstreamResponse`, `rules[].changes`).
 * Failures never throw: they become `exchange.error` plus the answer a client can act on
 * (502 refused, 504 silent upstream) or a closed connection when a response was already under
 * way, so a truncated body never looks complete (DESIGN.md invariant 4).
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { createExchange, failExchange, now, type Exchange, type Phase, type RuleChange } from '../core/exchange.js';
import type { Negotiations } from '../protocols/negotiation.js';
import { observeRequest, type Observation } from '../protocols/observer.js';
import { FPSE_PACKET_CAP } from '../protocols/fpse-packet.js';
import { FPSE_FIRST_LINE_CAP } from '../protocols/fpse-request.js';
import type { ExchangeEvents } from '../core/exchange-events.js';
import type { Origin } from '../core/origin.js';
import { getHeader, setHeader, toPairs, withoutHeader, type RawHeaders } from '../core/raw-headers.js';
import type { RequestDraft, ResponseDraft } from '../rules/actions.js';
import type { RuleSet } from '../rules/compile.js';
import { RuleRun } from '../rules/engine.js';
import { addFirstLine, addResponseBody, addResponseHead, requestFacts } from '../rules/facts.js';
import { BodyCapture } from '../core/body-capture.js';
import { collectBody, holdFirstLine, type Held } from './body-hold.js';
import type { ClientConnection } from './client-connection.js';
import { resolveDestination } from './destination.js';
import { planForward, routingOf } from './forward-head.js';
import { stripHopByHop, wantsKeepAlive } from './hop-by-hop.js';
import { requestHeadOf } from './request-head.js';
import { closeWithoutAnswer, sendAnswer, type ProxyAnswer } from './respond.js';
import { Throttle } from './throttle.js';
import type { WindowsAuthHints } from './auth-hint.js';
import { openUpstreamRequest } from './upstream.js';
import { describeTlsFailure, type UpstreamTls } from './upstream-tls.js';

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
  /** Secrets out of rule changes before they are logged. */
  redactChanges(changes: RuleChange[]): RuleChange[];
}

/** What the connection layer may need to know about an exchange in flight on a socket. */
export interface InFlight {
  /** The client's request stream broke (a parse error in its body): answer if still possible. */
  clientRequestFailed(err: NodeJS.ErrnoException, answer: ProxyAnswer): void;
  /** An upstream socket of this client connection sat idle past --upstream-timeout. */
  upstreamTimedOut(socket: Socket): void;
}

export function handleHttpExchange(ctx: PipelineContext, conn: ClientConnection, req: IncomingMessage, res: ServerResponse): void {
  new HttpExchange(ctx, conn, req, res).start();
}

interface Destination {
  origin: Origin;
  path: string;
}

/** What the response path needs to know from the request side when rules are in play. */
interface ForwardOptions {
  /** Body bytes already read (the held first line, maybe rewritten), sent before the rest. */
  prefix?: Buffer;
  /** The request body ended within the prefix. */
  ended?: boolean;
  /** Bytes per second for the request body (throttle). */
  throttle?: number;
}

/**
 * Node writes each chunk of a chunked response with a write of its own, after the head: for a
 * MAPI/HTTP answer (head, PROCESSING, DONE and its headers, the body, the last chunk, most often
 * in one packet from the upstream) three write syscalls per exchange, and over TLS as many
 * records, each encrypted and sent. Corking the client's socket until the end of this event-loop
 * iteration lets what arrived together leave together, in one writev (strace: 3 → 2 writes per
 * exchange). Nothing waits for more data than this iteration already has (DESIGN.md invariant 1):
 * a long poll's PROCESSING still leaves at once. A response with Content-Length already leaves in
 * one write (head and body joined by Node), so it is not corked.
 */
function holdWritesForThisTurn(socket: Socket | null): void {
  if (socket === null || socket.destroyed) return;
  socket.cork();
  setImmediate(uncork, socket);
}

function uncork(socket: Socket): void {
  socket.uncork();
}

class HttpExchange implements InFlight {
  private readonly exchange: Exchange;
  private proxyReq: ClientRequest | undefined;
  private proxyRes: IncomingMessage | undefined;
  /** The protocol observer that claimed this exchange, if any (steps 2, 4 and 7). */
  private observation: Observation | undefined;
  /** The rules of this exchange, when any could match (steps 3, 5 and 8). */
  private run: RuleRun | undefined;
  /** The client version as forwarded, for FPSE's Min(client, server) on the response side. */
  private forwardedDraft: RequestDraft | undefined;
  /** A pending delay action, cleared if the exchange ends first. */
  private timer: NodeJS.Timeout | undefined;
  private throttles: Throttle[] = [];
  /** A rule ended the exchange on purpose (close, reset, hang): not a client abort. */
  private endedByRule = false;
  /** Bodies as the client sent and received them, when recording captures them. */
  private readonly requestCapture: BodyCapture | undefined;
  private responseCapture: BodyCapture | undefined;
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
    if (ctx.captureBytes > 0) this.requestCapture = new BodyCapture(ctx.captureBytes);
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
    const capture = this.requestCapture;
    req.on('data', (chunk: Buffer) => {
      exchange.bytes.request += chunk.length;
      capture?.add(chunk);
      if (this.observation?.wantsRequestBody()) this.observation.requestBody(chunk);
    });
    req.once('end', () => this.observation?.requestEnd());

    // Inside an intercepted tunnel, requests are origin-form for the origin the client CONNECTed
    // to: routed like reverse mode, with the client's own Host.
    const routing = routingOf(ctx, conn.tunnel?.origin);
    if (conn.tunnel !== undefined) exchange.intercepted = true;
    const dest = resolveDestination(exchange.request.url, routing.target);
    if (!dest.ok) {
      this.answer(dest, 'request-head');
      req.resume();
      return;
    }
    const rawHeaders = planForward(exchange, dest, routing);
    const rules = ctx.rules();
    const facts = rules.size === 0 ? undefined : requestFacts({ method: exchange.request.method, host: dest.origin.hostname, path: dest.path, client: conn.info.address, rawHeaders: req.rawHeaders });
    const run = facts === undefined ? undefined : RuleRun.of(rules, facts);
    if (run === undefined) {
      this.observe(dest.path, req.rawHeaders);
      this.forward(dest, rawHeaders);
      return;
    }
    this.run = run;
    if (run.facts.protocol === 'mapihttp') {
      const known = ctx.negotiations.lastMapiServer(exchange.url);
      if (known !== undefined) run.facts.knownServer = known;
    }
    // Nothing moves until the request-side rules have run (a delay must not lose body bytes).
    req.pause();
    if (!run.waitsForRequestBody()) return this.decideRequest(dest, rawHeaders, undefined);
    // The FPSE method and client version are in the body's first line (MS-FPSE 2.2.2). A client
    // that sent `Expect: 100-continue` waits for a 100 before sending it; the proxy gives that
    // 100 itself and drops Expect from the forwarded head, so the upstream does not send one more.
    let forwardHeaders = rawHeaders;
    if (getHeader(rawHeaders, 'expect') !== undefined && req.httpVersion !== '1.0') {
      res.writeContinue();
      forwardHeaders = withoutHeader(rawHeaders, 'expect');
      exchange.forwarded = { path: dest.path, rawHeaders: forwardHeaders };
    }
    holdFirstLine(req, FPSE_FIRST_LINE_CAP, (held) => this.decideRequest(dest, forwardHeaders, held));
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

  /** Creates the observer from the head as forwarded; under rules, after request-side edits. */
  private observe(path: string, rawHeaders: RawHeaders): void {
    this.observation = observeRequest({ method: this.exchange.request.method, path, rawHeaders });
  }

  /** Step 5: request-side rules on a draft, then forward it, answer, or end the connection. */
  private decideRequest(dest: Destination, rawHeaders: RawHeaders, held: Held | undefined): void {
    if (this.settled || this.finished) return;
    const run = this.run!;
    const line = held?.lineLength === undefined ? undefined : held.bytes.subarray(0, held.lineLength);
    if (held !== undefined && line === undefined) run.skipWaitingForRequestBody(`the first line of the request body is over the ${FPSE_FIRST_LINE_CAP / 1024} KiB cap, so it was forwarded unread`);
    if (held !== undefined) addFirstLine(run.facts, line);
    const draft: RequestDraft = { facts: run.facts, rawHeaders, clientVersion: run.facts.clientVersion, delayMs: 0, throttle: {} };
    if (line !== undefined) draft.firstLine = line;
    run.applyRequest(draft, held === undefined ? 'request-head' : 'request-body');
    this.forwardedDraft = draft;

    let prefix = held?.bytes;
    if (held !== undefined && line !== undefined && draft.firstLine !== line) {
      // Only the first line changed: the rest of the body (a `put document` tail) follows as is.
      prefix = Buffer.concat([draft.firstLine!, held.bytes.subarray(line.length)]);
      draft.rawHeaders = adjustContentLength(draft.rawHeaders, draft.firstLine!.length - line.length);
    }
    if (draft.rawHeaders !== rawHeaders) this.exchange.forwarded = { path: dest.path, rawHeaders: draft.rawHeaders };
    const ended = held?.ended ?? false;
    if (draft.end !== undefined) return this.endByRule(draft, dest.path, prefix, ended);
    this.after(draft.delayMs, () => {
      this.observe(dest.path, draft.rawHeaders);
      this.observeRequestBytes(prefix, ended);
      this.forward(dest, draft.rawHeaders, { ...(prefix && { prefix }), ended, ...(draft.throttle.request !== undefined && { throttle: draft.throttle.request }) });
    });
  }

  /** Bytes read before the observer existed (the held first line) reach it now, as forwarded. */
  private observeRequestBytes(prefix: Buffer | undefined, ended: boolean): void {
    const observation = this.observation;
    if (observation === undefined) return;
    if (prefix !== undefined && prefix.length > 0 && observation.wantsRequestBody()) observation.requestBody(prefix);
    if (ended) observation.requestEnd();
  }

  /** Step 6: the upstream request on the client connection's own upstream connection. */
  private forward(dest: Destination, rawHeaders: RawHeaders, options?: ForwardOptions): void {
    const { ctx, conn, req, exchange } = this;
    const proxyReq = openUpstreamRequest({
      origin: dest.origin,
      method: exchange.request.method,
      path: dest.path,
      rawHeaders,
      agent: conn.agentFor(dest.origin),
      upstreamTls: ctx.upstreamTls,
    });
    this.proxyReq = proxyReq;
    proxyReq.on('error', (err: NodeJS.ErrnoException) => this.onUpstreamError(err));
    proxyReq.once('socket', (socket: Socket) => this.onUpstreamSocket(proxyReq, socket));
    proxyReq.once('response', (proxyRes: IncomingMessage) => this.onUpstreamResponse(proxyRes));
    proxyReq.on('information', (info: { statusCode: number; rawHeaders: string[] }) => this.relayInformational(info));
    // The body streams as it arrives, with backpressure both ways; a throttle paces the held
    // prefix too (it may be the whole body).
    let sink: NodeJS.WritableStream = proxyReq;
    if (options?.throttle !== undefined) {
      const throttle = this.throttle(options.throttle);
      throttle.pipe(proxyReq);
      sink = throttle;
    }
    if (options?.prefix !== undefined && options.prefix.length > 0) sink.write(options.prefix);
    if (options?.ended === true) sink.end();
    else req.pipe(sink);
  }

  /** A final action: answer in the protocol's own terms, or end the connection as asked. */
  private endByRule(draft: RequestDraft, path: string, prefix: Buffer | undefined, ended: boolean): void {
    const { req, res, exchange } = this;
    const end = draft.end!;
    this.settled = true;
    this.endedByRule = true;
    // The upstream never saw this request: the record must not say it received a head.
    delete exchange.forwarded;
    if (end.kind === 'close') return closeWithoutAnswer(req);
    if (end.kind === 'reset') return void req.socket.resetAndDestroy();
    // The rest of the request body is read and dropped, so the client is never stuck sending.
    req.resume();
    // hang: never answered; the client's own timeout (or the proxy's shutdown) ends it.
    if (end.kind !== 'answer') return;

    this.observe(path, draft.rawHeaders);
    this.observeRequestBytes(prefix, ended);
    const { answer } = end;
    const response: ResponseDraft = {
      facts: draft.facts,
      clientVersion: draft.clientVersion,
      status: answer.status,
      statusMessage: answer.statusMessage,
      rawHeaders: answer.rawHeaders,
      body: answer.body,
      // A request-side delay still holds the answer back: a slow refusal is a refusal.
      delayMs: draft.delayMs,
    };
    addResponseHead(draft.facts, answer.status, answer.rawHeaders);
    this.run!.applyResponse(response, 'response-head');
    this.after(response.delayMs, () => {
      if (this.ctx.closing()) res.shouldKeepAlive = false;
      exchange.timings.responseHead = now();
      const body = response.body ?? Buffer.alloc(0);
      const rawHeaders = setContentLength(response.rawHeaders, body.length);
      exchange.response = { statusCode: response.status, statusMessage: response.statusMessage, httpVersion: '1.1', rawHeaders, source: 'rule' };
      exchange.bytes.response = body.length;
      this.captureResponse()?.add(body);
      res.writeHead(response.status, response.statusMessage, rawHeaders);
      this.observation?.responseHead(response.status, rawHeaders);
      if (this.observation?.wantsResponseBody()) this.observation.responseBody(body);
      if (response.throttle === undefined) return void res.end(body);
      const throttle = this.throttle(response.throttle);
      throttle.pipe(res);
      throttle.end(body);
    });
  }

  private onUpstreamSocket(proxyReq: ClientRequest, socket: Socket): void {
    // Idle timeout: no bytes either way for this long (a long poll's PENDING lines reset it).
    // Set on the socket once and kept while it idles (it then concerns no exchange); the
    // connection's listener brings it here (upstreamTimedOut).
    if (socket.timeout !== this.ctx.upstreamTimeoutMs) socket.setTimeout(this.ctx.upstreamTimeoutMs);
    const connected = (): void => {
      this.exchange.timings.upstreamConnected = now();
      this.exchange.upstream = { localAddress: socket.localAddress, localPort: socket.localPort, reused: proxyReq.reusedSocket };
    };
    // A TLS upstream is connected once its handshake is through: a certificate refused before
    // that means the request never left (phase connect).
    if (socket instanceof TLSSocket && !proxyReq.reusedSocket) socket.once('secureConnect', connected);
    else if (socket.connecting) socket.once('connect', connected);
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
    this.decideKeepAlive(proxyRes);
    // A body delimited by the upstream closing its connection is relayed the same way instead of
    // being re-framed as chunked (RFC 9112 §6.3, rule 8).
    if (isCloseDelimited(proxyRes, this.req.method)) res.useChunkedEncodingByDefault = false;
    proxyRes.on('data', (chunk: Buffer) => (exchange.bytes.response += chunk.length));
    proxyRes.once('close', () => {
      if (proxyRes.complete || this.settled) return;
      // Reset or closed mid-body: close the client's connection too, so it cannot mistake a
      // truncated body for a whole one.
      failExchange(exchange, { code: 'ECONNRESET', message: 'the upstream closed the connection before the response was complete', phase: 'response-body' });
      this.settled = true;
      res.destroy();
    });

    const run = this.run;
    const draft: ResponseDraft = { facts: run?.facts ?? NO_FACTS, clientVersion: this.forwardedDraft?.clientVersion, status: statusCode, statusMessage, rawHeaders: stripped.headers, delayMs: 0 };
    if (run === undefined || run.ended) return this.deliver(proxyRes, draft, undefined, stripped.headers);
    if (this.forwardedDraft?.throttle.response !== undefined) draft.throttle = this.forwardedDraft.throttle.response;
    addResponseHead(run.facts, statusCode, proxyRes.rawHeaders);
    if (!run.needsResponseBody()) {
      run.applyResponse(draft, 'response-head');
      return this.deliver(proxyRes, draft, undefined, stripped.headers);
    }
    // An FPSE packet is small HTML: collected (capped) so a rule can read or rewrite it.
    collectBody(proxyRes, FPSE_PACKET_CAP, ({ bytes, complete }) => {
      if (this.settled) return;
      if (complete) draft.body = bytes;
      else draft.bodyMissing = `the response body is over the ${FPSE_PACKET_CAP / 1024} KiB buffer cap, so it streamed unchanged`;
      addResponseBody(run.facts, draft.body);
      run.applyResponse(draft, 'response-body');
      this.deliver(proxyRes, draft, complete ? undefined : bytes, stripped.headers);
    });
  }

  /**
   * Step 9: the response head as the draft has it, then the body: the draft's whole body when
   * one was collected, else the upstream's bytes as they arrive (after `prefix`, when the
   * collector stopped at its cap). `relayed` is the upstream's head less its hop-by-hop fields.
   */
  private deliver(proxyRes: IncomingMessage, draft: ResponseDraft, prefix: Buffer | undefined, relayed: RawHeaders): void {
    if (draft.delayMs > 0) proxyRes.pause();
    this.after(draft.delayMs, () => {
      if (this.settled) return;
      const { res, exchange } = this;
      let rawHeaders = draft.rawHeaders;
      if (draft.body !== undefined && getHeader(rawHeaders, 'content-length') !== undefined) rawHeaders = setContentLength(rawHeaders, draft.body.length);
      try {
        res.writeHead(draft.status, draft.statusMessage, rawHeaders);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        failExchange(exchange, { code: e.code ?? 'BAD_UPSTREAM_HEAD', message: e.message, phase: 'response-head' });
        proxyRes.destroy();
        this.answer({ status: 502, code: e.code ?? 'BAD_UPSTREAM_HEAD', message: `the upstream ${exchange.url} sent a response head that cannot be relayed: ${e.message}` }, 'response-head');
        return;
      }
      if (res.chunkedEncoding) holdWritesForThisTurn(res.socket);
      const upstream = { statusCode: proxyRes.statusCode ?? 502, statusMessage: proxyRes.statusMessage ?? '', httpVersion: proxyRes.httpVersion, rawHeaders: proxyRes.rawHeaders, source: 'upstream' as const };
      exchange.response = { ...upstream, statusCode: draft.status, statusMessage: draft.statusMessage, rawHeaders };
      // What the upstream really sent, whenever the client got something else.
      if (rawHeaders !== relayed || relayed.length !== proxyRes.rawHeaders.length || draft.status !== upstream.statusCode) exchange.upstreamResponse = upstream;
      const observation = this.observation;
      // Under rules the observer sees the head as delivered; without, exactly what arrived.
      observation?.responseHead(draft.status, this.run === undefined ? proxyRes.rawHeaders : rawHeaders);
      const capture = this.captureResponse();
      if (draft.body !== undefined) {
        capture?.add(draft.body);
        if (observation?.wantsResponseBody()) observation.responseBody(draft.body);
        this.writeBody(draft.body, draft.throttle);
        return;
      }
      if (prefix !== undefined) {
        capture?.add(prefix);
        if (observation?.wantsResponseBody()) observation.responseBody(prefix);
        res.write(prefix);
      }
      if (capture !== undefined) proxyRes.on('data', (chunk: Buffer) => capture.add(chunk));
      // The observer sees each chunk as it passes: no buffering, no delay (invariant 1).
      if (observation?.wantsResponseBody()) proxyRes.on('data', (chunk: Buffer) => observation.responseBody(chunk));
      const sink = draft.throttle === undefined ? res : this.throttle(draft.throttle);
      if (sink !== res) sink.pipe(res, { end: false });
      proxyRes.pipe(sink, { end: false });
      proxyRes.once('end', () => {
        if (proxyRes.rawTrailers.length > 0) res.addTrailers(toPairs(proxyRes.rawTrailers));
        if (sink === res) return void res.end();
        sink.once('end', () => res.end());
        sink.end();
      });
    });
  }

  private writeBody(body: Buffer, throttle: number | undefined): void {
    if (throttle === undefined) return void this.res.end(body);
    const sink = this.throttle(throttle);
    sink.pipe(this.res);
    sink.end(body);
  }

  /** A throttle for one direction of this exchange, destroyed with it. */
  private throttle(bytesPerSecond: number): Throttle {
    const throttle = new Throttle(bytesPerSecond);
    this.throttles.push(throttle);
    return throttle;
  }

  /** Runs `step` now, or after a delay action's wait; the wait ends with the exchange. */
  private after(ms: number, step: () => void): void {
    if (ms <= 0) return step();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.finished) step();
    }, ms);
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
    // A certificate the proxy could not verify is said in words, with the flag that fixes it.
    const tlsFailure = describeTlsFailure(err, hostOfUrl(exchange.url));
    failExchange(exchange, { code, message: tlsFailure ?? err.message, phase });
    this.abortUpstream();
    if (this.res.headersSent) {
      this.settled = true;
      this.res.destroy();
      return;
    }
    const where = originOf(exchange.url);
    const message =
      tlsFailure !== undefined
        ? `could not connect to the upstream ${where}: ${tlsFailure}`
        : phase === 'connect'
          ? `could not connect to the upstream ${where}: ${code} (${err.message})`
          : `the upstream ${where} failed before answering: ${code} (${err.message})`;
    this.answer({ status: 502, code, message }, phase);
  }

  upstreamTimedOut(socket: Socket): void {
    if (this.proxyReq?.socket === socket) this.onUpstreamTimeout();
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
    this.captureResponse()?.add(sent.body);
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
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const throttle of this.throttles) throttle.destroy();
    if (!res.writableFinished && !this.endedByRule) {
      // The client went away first: nothing is left to deliver, so free the upstream at once.
      const phase: Phase = !req.complete ? 'request-body' : res.headersSent ? 'response-body' : 'response-head';
      failExchange(exchange, { code: 'CLIENT_ABORTED', message: 'the client closed the connection before the exchange was complete', phase });
    }
    if (!res.writableFinished) this.abortUpstream();
    exchange.timings.end = now();
    if (this.observation) this.judge(this.observation);
    if (this.run !== undefined && this.run.applied.length > 0) this.recordRules(this.run);
    if (this.requestCapture !== undefined) this.recordBodies(this.requestCapture);
    this.ctx.authHints.check(exchange);
    this.conn.inFlight -= 1;
    this.conn.active.delete(this);
    this.ctx.events.emit('finished', exchange);
  }

  /** A fresh capture of what the client receives (an answer replaces whatever came before). */
  private captureResponse(): BodyCapture | undefined {
    if (this.ctx.captureBytes <= 0) return undefined;
    this.responseCapture = new BodyCapture(this.ctx.captureBytes);
    return this.responseCapture;
  }

  /** Bodies go on the record only when there was one: no body, no field. */
  private recordBodies(requestCapture: BodyCapture): void {
    const request = requestCapture.result();
    const response = this.responseCapture?.result();
    if (request.size === 0 && (response === undefined || response.size === 0)) return;
    this.exchange.bodies = {
      ...(request.size > 0 && { request }),
      ...(response !== undefined && response.size > 0 && { response }),
    };
  }

  /** The record lists every rule met; the log names the ones that acted or could not. */
  private recordRules(run: RuleRun): void {
    const { exchange, ctx } = this;
    exchange.rules = run.applied;
    for (const rule of run.applied) {
      if (rule.outcome === 'applied') ctx.log.info({ xid: exchange.id, rule: rule.id, changes: ctx.redactChanges(rule.changes) }, 'rule applied');
      else if (rule.outcome === 'skipped') ctx.log.warn({ xid: exchange.id, rule: rule.id, reason: rule.reason }, 'rule skipped');
    }
  }
}

/** Facts of an exchange no rule looks at: the response draft still needs the field. */
const NO_FACTS = Object.freeze({ method: '', host: '', path: '', client: '', requestHeaders: [], protocol: 'http' as const });

/** RFC 9112 §6.3: no Content-Length, no Transfer-Encoding, and a status that has a body. */
function isCloseDelimited(res: IncomingMessage, method: string | undefined): boolean {
  const status = res.statusCode ?? 0;
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) return false;
  return getHeader(res.rawHeaders, 'content-length') === undefined && getHeader(res.rawHeaders, 'transfer-encoding') === undefined;
}

/** A body edited by a rule keeps its framing honest: Content-Length follows the new length. */
function adjustContentLength(raw: RawHeaders, delta: number): RawHeaders {
  const current = getHeader(raw, 'content-length');
  if (current === undefined || delta === 0) return raw;
  return setContentLength(raw, Number(current) + delta);
}

/** Content-Length for a body the proxy rewrote or made; left to chunking when the head has Transfer-Encoding. */
function setContentLength(raw: RawHeaders, length: number): RawHeaders {
  if (getHeader(raw, 'content-length') === undefined && getHeader(raw, 'transfer-encoding') !== undefined) return raw;
  return setHeader(raw, 'Content-Length', String(length));
}

function hostOfUrl(url: string): string {
  return /^[a-z]+:\/\/\[?([^\]/:]*)/i.exec(url)?.[1] ?? url;
}

function originOf(url: string): string {
  const match = /^[a-z]+:\/\/[^/]*/i.exec(url);
  return match ? match[0] : url;
}

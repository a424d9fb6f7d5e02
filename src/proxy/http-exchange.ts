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
 * way, so a truncated body never looks complete (docs/running.md "Failures are answers").
 *
 * This class keeps the state and the moving parts (listeners, pipes, timers); what is a function
 * of explicit arguments lives beside it: exchange-rules.ts (steps 3, 5, 8), upstream.ts (6),
 * relay-head.ts and relay-body.ts (9), upstream-failure.ts (502/504), finish-record.ts (10),
 * framing.ts.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createExchange, failExchange, now, type Exchange, type Phase } from '../core/exchange.js';
import { observeRequest, type Observation } from '../protocols/observer.js';
import { FPSE_PACKET_CAP } from '../protocols/fpse-packet.js';
import { FPSE_FIRST_LINE_CAP } from '../protocols/fpse-request.js';
import type { Origin } from '../core/origin.js';
import { getHeader, withoutHeader, type RawHeaders } from '../core/raw-headers.js';
import type { RequestDraft, ResponseDraft } from '../rules/actions.js';
import type { RuleRun } from '../rules/engine.js';
import { addResponseBody, addResponseHead } from '../rules/facts.js';
import { BodyCapture } from '../core/body-capture.js';
import { collectBody, holdFirstLine, type Held } from './body-hold.js';
import type { ClientConnection } from './client-connection.js';
import { resolveDestination } from './destination.js';
import { decideAnswerDraft, decideRequestDraft, heldPrefix, NO_FACTS, ruleRunOf } from './exchange-rules.js';
import { holdLastBytes, judgeExchange, RecordedResponse, recordBodies, recordRules, type EndListener } from './finish-record.js';
import { planForward, routingOf } from './forward-head.js';
import { isCloseDelimited, setContentLength } from './framing.js';
import { stripHopByHop } from './hop-by-hop.js';
import type { InFlight, PipelineContext } from './pipeline-context.js';
import { holdWritesForThisTurn, relayResponseBody } from './relay-body.js';
import { decideKeepAlive, relayInformational, type Informational } from './relay-head.js';
import { headRefusal, requestHeadOf } from './request-head.js';
import { closeWithoutAnswer, sendAnswer, type ProxyAnswer } from './respond.js';
import { Throttle } from './throttle.js';
import { openUpstreamRequest, watchUpstreamSocket } from './upstream.js';
import { upstreamErrorOf, upstreamTimeoutOf, type UpstreamFailure } from './upstream-failure.js';

// The pipeline's seam with the server and the connection layer (pipeline-context.ts).
export type { InFlight, PipelineContext } from './pipeline-context.js';

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

class HttpExchange implements InFlight, EndListener {
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
  /** The upstream's body ends where its connection does (RFC 9112 §6.3). */
  private closeDelimited = false;

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
    // The record is emitted before the response's last bytes leave (finish-record.ts).
    if (res instanceof RecordedResponse) res.endListener = this;
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
    const refusal = headRefusal(req);
    if (refusal !== undefined) {
      // A head the proxy will not forward says nothing it can trust about what follows it.
      res.shouldKeepAlive = false;
      this.answer(refusal, 'request-head');
      req.resume();
      return;
    }
    const dest = resolveDestination(exchange.request.url, routing.target, ctx.own);
    if (!dest.ok) {
      this.answer(dest, 'request-head');
      req.resume();
      return;
    }
    const rawHeaders = planForward(exchange, dest, routing);
    const run = ruleRunOf(ctx, exchange, dest, conn.info.address, req.rawHeaders);
    if (run === undefined) {
      this.observe(dest.path, req.rawHeaders);
      this.forward(dest, rawHeaders);
      return;
    }
    this.run = run;
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

  requestComplete(): boolean {
    return this.req.complete;
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
    const line = held?.lineLength === undefined ? undefined : held.bytes.subarray(0, held.lineLength);
    const draft = decideRequestDraft(this.run!, rawHeaders, held, line);
    this.forwardedDraft = draft;
    const prefix = heldPrefix(draft, held, line);
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
    proxyReq.once('socket', (socket: Socket) => watchUpstreamSocket(exchange, proxyReq, socket, ctx.upstreamTimeoutMs));
    proxyReq.once('response', (proxyRes: IncomingMessage) => this.onUpstreamResponse(proxyRes));
    proxyReq.on('information', (info: Informational) => {
      if (!this.settled) relayInformational(req, this.res, info);
    });
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
    const response = decideAnswerDraft(this.run!, draft, end.answer);
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
      this.writeBody(body, response.throttle);
    });
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
    decideKeepAlive(this.ctx, this.req, res, proxyRes);
    // A body delimited by the upstream closing its connection is relayed the same way instead of
    // being re-framed as chunked (RFC 9112 §6.3, rules 4 and 8), and the client's connection
    // closes after it, as its end is what marks the body's end.
    if (isCloseDelimited(proxyRes, this.req.method)) {
      res.useChunkedEncodingByDefault = false;
      this.closeDelimited = true;
      res.shouldKeepAlive = false;
    }
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
      // Node chunks any body whose Transfer-Encoding mentions chunked, final or not: a
      // `chunked, identity` body is not chunked on the wire (rule 4) and must not become so.
      if (this.closeDelimited) res.chunkedEncoding = false;
      if (res.chunkedEncoding) holdWritesForThisTurn(res.socket);
      if (this.ctx.recording) holdLastBytes(res.socket);
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
      // Ahead of the pipe's own listener: each turn's bytes wait for a possible end() (finish-record.ts).
      if (this.ctx.recording) proxyRes.on('data', () => holdLastBytes(res.socket));
      relayResponseBody(res, proxyRes, prefix, capture, observation, draft.throttle === undefined ? res : this.responseThrottle(draft.throttle));
    });
  }

  private writeBody(body: Buffer, throttle: number | undefined): void {
    if (throttle === undefined) return void this.res.end(body);
    const sink = this.responseThrottle(throttle);
    sink.pipe(this.res);
    sink.end(body);
  }

  /** A throttle of the response; while recording, its writes wait for a possible end() like the relay's. */
  private responseThrottle(bytesPerSecond: number): Throttle {
    const throttle = this.throttle(bytesPerSecond);
    // Before the pipe to the response is made, so the cork comes ahead of its write.
    if (this.ctx.recording) throttle.on('data', () => holdLastBytes(this.res.socket));
    return throttle;
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

  private onUpstreamError(err: NodeJS.ErrnoException): void {
    if (this.settled) return;
    const phase: Phase =
      this.exchange.timings.upstreamConnected === undefined ? 'connect' : this.proxyRes === undefined ? 'response-head' : 'response-body';
    this.failUpstream(upstreamErrorOf(err, this.exchange.url, phase));
  }

  upstreamTimedOut(socket: Socket): void {
    if (this.proxyReq?.socket === socket) this.onUpstreamTimeout();
  }

  private onUpstreamTimeout(): void {
    if (this.settled) return;
    const phase: Phase = this.proxyRes === undefined ? 'response-head' : 'response-body';
    this.failUpstream(upstreamTimeoutOf(this.ctx.upstreamTimeoutMs, this.exchange.url, phase));
  }

  /** On the record, the upstream freed, and the answer sent unless a response is already under way. */
  private failUpstream({ error, answer }: UpstreamFailure): void {
    failExchange(this.exchange, error);
    this.abortUpstream();
    if (this.res.headersSent) {
      this.settled = true;
      this.res.destroy();
      return;
    }
    this.answer(answer, error.phase);
  }

  private answer(answer: ProxyAnswer, phase: Phase): void {
    this.settled = true;
    if (answer.status >= 400) failExchange(this.exchange, { code: answer.code, message: answer.message, phase });
    this.exchange.timings.responseHead ??= now();
    sendAnswer(this.res, answer, (sent) => {
      this.exchange.response = sent.head;
      this.exchange.bytes.response = sent.bodyBytes;
      this.captureResponse()?.add(sent.body);
    });
  }

  private abortUpstream(): void {
    this.proxyRes?.destroy();
    this.proxyReq?.destroy();
  }

  /** Inside the response's end(): the record goes out before its last bytes do (finish-record.ts). */
  responseEnding(): void {
    this.complete(true);
  }

  /** The response is closed: the record (unless end() already gave it), then what is left to free. */
  private finish(): void {
    this.complete(false);
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const throttle of this.throttles) throttle.destroy();
    if (!this.res.writableFinished) this.abortUpstream();
  }

  /**
   * Step 10, the record: from inside res.end() (`ended`, the last bytes not yet handed to the
   * socket), or as the response closes without one (the client went away, a rule closed it).
   */
  private complete(ended: boolean): void {
    if (this.finished) return;
    this.finished = true;
    const { exchange, res, req } = this;
    if (!ended && !res.writableFinished && !this.endedByRule) {
      // The client went away first: nothing is left to deliver, so free the upstream at once.
      const phase: Phase = !req.complete ? 'request-body' : res.headersSent ? 'response-body' : 'response-head';
      failExchange(exchange, { code: 'CLIENT_ABORTED', message: 'the client closed the connection before the exchange was complete', phase });
      this.abortUpstream();
    }
    exchange.timings.end = now();
    if (this.observation) judgeExchange(this.ctx, exchange, this.observation);
    if (this.run !== undefined && this.run.applied.length > 0) recordRules(this.ctx, exchange, this.run);
    if (this.requestCapture !== undefined) recordBodies(exchange, this.requestCapture, this.responseCapture);
    this.ctx.authHints.check(exchange);
    this.ctx.events.emit('finished', exchange);
    // After 'finished': an answer waiting for this one (a pipelined bad head) is recorded after it.
    this.conn.ended(this);
  }

  /** A fresh capture of what the client receives (an answer replaces whatever came before). */
  private captureResponse(): BodyCapture | undefined {
    if (this.ctx.captureBytes <= 0) return undefined;
    this.responseCapture = new BodyCapture(this.ctx.captureBytes);
    return this.responseCapture;
  }
}

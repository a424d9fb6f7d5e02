/**
 * Protocol upgrades (WebSocket), RFC 9110 §7.8: the request head goes upstream from raw headers
 * with `Connection: Upgrade` and `Upgrade` kept; a 101 answer is relayed byte-faithfully and the
 * two sockets are joined. Either side closing or failing destroys both. Any other answer is relayed
 * as a complete response and the connection closed, since the client's socket has already left
 * the HTTP server (upgrade-declined.ts).
 * Adding `Upgrade` to a request is no way around the rules: they and the protocol observer run
 * here as in http-exchange.ts, through the same pieces (exchange-rules.ts, finish-record.ts).
 * When recording is on (`captureBytes` > 0), a WebSocket's frames are read beside the pipe, never
 * in it, and its messages go on the record (`exchange.websocket`, protocols/websocket-frames.ts).
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createExchange, failExchange, now } from '../core/exchange.js';
import { originUrl } from '../core/origin.js';
import { getHeader, getHeaderValues, withoutHeader, type RawHeaders } from '../core/raw-headers.js';
import { observeRequest, type Observation } from '../protocols/observer.js';
import type { RequestDraft, RuleEnding } from '../rules/actions.js';
import type { Held } from './body-hold.js';
import { decideAnswerDraft, decideRequestDraft, ruleRunOf } from './exchange-rules.js';
import { judgeExchange, recordRules } from './finish-record.js';
import { setContentLength } from './framing.js';
import type { PipelineContext } from './pipeline-context.js';
import { Throttle } from './throttle.js';
import { relayDeclined } from './upgrade-declined.js';
import { negotiatesPerMessageDeflate, WebSocketCapture } from '../protocols/websocket-frames.js';
import type { ClientConnection } from './client-connection.js';
import { resolveDestination } from './destination.js';
import { planForward, routingOf } from './forward-head.js';
import { headRefusal, requestHeadOf } from './request-head.js';
import { closeSocketWithoutAnswer, endAndLinger, serializeHead, writeRawAnswer } from './respond.js';
import { openUpstreamRequest } from './upstream.js';

/** What an upgrade reads of the pipeline's context: the same rules, observers and record as any exchange. */
export type UpgradeContext = Pick<
  PipelineContext,
  'events' | 'target' | 'keepHost' | 'forwarded' | 'upstreamTimeoutMs' | 'upstreamTls' | 'captureBytes' | 'rules' | 'negotiations' | 'log' | 'redactChanges' | 'own'
>;

/** The body of a bodiless request, as holdFirstLine reports it: ended, with an empty first line. */
const NO_BODY: Held = { bytes: Buffer.alloc(0), ended: true, lineLength: 0 };

/**
 * An upgrade request without a body (one with a body goes the HTTP pipeline, upgrade-replay.ts).
 * Rules and the protocol observer apply as on any request (http-exchange.ts steps 2-5): a
 * request-side action edits the forwarded head, delays it, or ends the exchange (reject, respond,
 * close, reset, hang) before the upstream sees anything; response-side actions apply to an answer
 * that is not a 101 (upgrade-declined.ts). After a 101 the bytes are no longer HTTP: they pass as
 * they are.
 */
export function handleUpgrade(ctx: UpgradeContext, conn: ClientConnection, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const exchange = createExchange('upgrade', conn.info, requestHeadOf(req));
  ctx.events.emit('started', exchange);
  socket.on('error', () => undefined); // surfaces as 'close'
  // Inside an intercepted tunnel, routed to the CONNECTed origin (as in http-exchange.ts).
  const routing = routingOf(ctx, conn.tunnel?.origin);
  if (conn.tunnel !== undefined) exchange.intercepted = true;
  // A head the proxy refuses (two Host lines, HTTP/2.0 on the request line) goes nowhere.
  const refusal = headRefusal(req);
  const dest = resolveDestination(exchange.request.url, routing.target, ctx.own);
  const usable = refusal === undefined && dest.ok;
  const planned = usable ? planForward(exchange, dest, routing, true) : [];
  const run = usable ? ruleRunOf(ctx, exchange, dest, conn.info.address, req.rawHeaders) : undefined;
  let finished = false;
  let observation: Observation | undefined;
  let proxyReq: ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;
  const throttles: Throttle[] = [];
  /** A rule ended the exchange on purpose (close, reset, hang): not a client abort. */
  let endedByRule = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (timer !== undefined) clearTimeout(timer);
    for (const throttle of throttles) throttle.destroy();
    exchange.timings.end = now();
    if (observation !== undefined) judgeExchange(ctx, exchange, observation);
    if (run !== undefined && run.applied.length > 0) recordRules(ctx, exchange, run);
    ctx.events.emit('finished', exchange);
  };
  /** Runs `step` now, or after a delay action's wait; the wait ends with the exchange. */
  const after = (ms: number, step: () => void): void => {
    if (ms <= 0) return step();
    timer = setTimeout(() => {
      timer = undefined;
      if (!finished) step();
    }, ms);
  };
  const refuse = (status: number, code: string, message: string, phase: 'request-head' | 'connect' | 'response-head'): void => {
    failExchange(exchange, { code, message, phase });
    exchange.timings.responseHead ??= now();
    const sent = writeRawAnswer(socket, { status, code, message });
    exchange.response = sent.head;
    exchange.bytes.response = sent.bodyBytes;
    if (socket.destroyed) finish();
    else socket.once('close', finish);
  };
  socket.once('close', () => {
    proxyReq?.destroy();
    // Paths that answered finish on their own close listener (after the WebSocket capture ends).
    if (exchange.response) return;
    if (!endedByRule) failExchange(exchange, { code: 'CLIENT_ABORTED', message: 'the client closed the connection before the upgrade was answered', phase: 'response-head' });
    finish();
  });
  // This socket has left the HTTP server, which would have taken a client's end of stream before
  // its answer as an abort (and sockets here allow half-open): so is it here, a hang included.
  socket.once('end', () => {
    if (!exchange.response) socket.destroy();
  });

  if (refusal !== undefined) {
    refuse(refusal.status, refusal.code, refusal.message, 'request-head');
    return;
  }
  if (!dest.ok) {
    refuse(dest.status, dest.code, dest.message, 'request-head');
    return;
  }
  if (run === undefined) return forward(planned, undefined);

  const held = run.waitsForRequestBody() ? NO_BODY : undefined;
  const draft = decideRequestDraft(run, planned, held, held?.bytes);
  if (draft.rawHeaders !== planned) exchange.forwarded = { path: dest.path, rawHeaders: draft.rawHeaders };
  if (draft.end !== undefined) return endByRule(draft, draft.end);
  after(draft.delayMs, () => forward(draft.rawHeaders, draft));

  /** A final action on the request side: the upstream never sees it (http-exchange.ts endByRule). */
  function endByRule(draft: RequestDraft, end: RuleEnding): void {
    endedByRule = true;
    delete exchange.forwarded;
    if (end.kind === 'close') return closeSocketWithoutAnswer(socket);
    if (end.kind === 'reset') return void (socket as net.Socket).resetAndDestroy();
    // What the client sends is never forwarded: read and dropped, so its end of stream is seen.
    socket.resume();
    // hang: never answered; the client's own timeout (or the proxy's shutdown) ends it.
    if (end.kind !== 'answer') return;
    observe(draft.rawHeaders);
    const response = decideAnswerDraft(run!, draft, end.answer);
    after(response.delayMs, () => {
      const body = response.body ?? Buffer.alloc(0);
      // The client's socket has left the HTTP server: the answer is the last thing on it.
      const rawHeaders = [...withoutHeader(setContentLength(response.rawHeaders, body.length), 'connection'), 'Connection', 'close'];
      exchange.timings.responseHead = now();
      exchange.response = { statusCode: response.status, statusMessage: response.statusMessage, httpVersion: '1.1', rawHeaders, source: 'rule' };
      exchange.bytes.response = body.length;
      observation?.responseHead(response.status, rawHeaders);
      if (observation?.wantsResponseBody()) observation.responseBody(body);
      endAndLinger(socket, Buffer.concat([serializeHead(response.status, response.statusMessage, rawHeaders), body]));
      if (socket.destroyed) finish();
      else socket.once('close', finish);
    });
  }

  /** The observer that claims the head as forwarded; an upgrade request's body is empty. */
  function observe(rawHeaders: RawHeaders): void {
    observation = observeRequest({ method: exchange.request.method, path: dest.ok ? dest.path : '', rawHeaders });
    observation?.requestEnd();
  }

  function forward(rawHeaders: RawHeaders, forwardedDraft: RequestDraft | undefined): void {
    if (!dest.ok || socket.destroyed) return;
    observe(rawHeaders);
    // A connection of its own: after a 101 it is no longer HTTP and belongs to this client alone.
    const upstreamReq = openUpstreamRequest({
      origin: dest.origin,
      method: exchange.request.method,
      path: dest.path,
      rawHeaders,
      agent: false,
      upstreamTls: ctx.upstreamTls,
    });
    proxyReq = upstreamReq;
    upstreamReq.setTimeout(ctx.upstreamTimeoutMs, () => upstreamReq.destroy(Object.assign(new Error(`no answer for ${ctx.upstreamTimeoutMs / 1000} s`), { code: 'UPSTREAM_TIMEOUT' })));
    upstreamReq.once('socket', (s) => {
      conn.linkUpstream(s);
      s.once('connect', () => (exchange.timings.upstreamConnected = now()));
    });
    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      if (exchange.response) return;
      const code = err.code ?? 'EUPSTREAM';
      const connected = exchange.timings.upstreamConnected !== undefined;
      const phase = connected ? 'response-head' : 'connect';
      refuse(code === 'UPSTREAM_TIMEOUT' ? 504 : 502, code, `${connected ? 'the upstream failed before answering the upgrade' : 'could not connect to the upstream'} ${originUrl(dest.origin)}: ${code} (${err.message})`, phase);
    });
    upstreamReq.once('upgrade', (res: IncomingMessage, upstream: net.Socket, upstreamHead: Buffer) => {
      upstreamReq.setTimeout(0);
      upstream.setTimeout(0);
      switched(res, upstream, upstreamHead);
    });
    upstreamReq.once('response', (res: IncomingMessage) => {
      relayDeclined({ socket, exchange, run, forwardedDraft, observation, after, throttle: (rate) => track(new Throttle(rate)) }, res);
      socket.once('close', finish);
    });
    // An upgrade request has no body of its own; bytes after its head go upstream after the 101.
    upstreamReq.end();
  }

  function track(throttle: Throttle): Throttle {
    throttles.push(throttle);
    return throttle;
  }

  /** The 101: relayed byte-faithfully, and the two sockets joined. */
  function switched(res: IncomingMessage, upstream: net.Socket, upstreamHead: Buffer): void {
    exchange.timings.responseHead = now();
    exchange.response = { statusCode: res.statusCode ?? 101, statusMessage: res.statusMessage ?? '', httpVersion: res.httpVersion, rawHeaders: res.rawHeaders, source: 'upstream' };
    exchange.upstream = { localAddress: upstream.localAddress, localPort: upstream.localPort, reused: false };
    observation?.responseHead(exchange.response.statusCode, res.rawHeaders);
    run?.endWithoutResponse(`the upstream switched protocols (${exchange.response.statusCode}): response-side actions apply to HTTP answers only`);
    conn.link(upstream);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      failExchange(exchange, { code: err.code ?? 'EUPGRADED', message: err.message, phase: 'tunnel' });
    });
    socket.write(serializeHead(exchange.response.statusCode, exchange.response.statusMessage, res.rawHeaders));
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstream.write(head);
    const countUp = (chunk: Buffer): void => void (exchange.bytes.request += chunk.length);
    const countDown = (chunk: Buffer): void => void (exchange.bytes.response += chunk.length);
    exchange.bytes.request += head.length;
    exchange.bytes.response += upstreamHead.length;
    socket.on('data', countUp);
    upstream.on('data', countDown);
    socket.pipe(upstream);
    upstream.pipe(socket);
    // Listening after the pipes: each chunk is on its way before the reader sees it.
    const capture = captureOf(ctx, res);
    if (capture !== undefined) {
      capture.client.push(head);
      capture.server.push(upstreamHead);
      socket.on('data', (chunk: Buffer) => capture.client.push(chunk));
      upstream.on('data', (chunk: Buffer) => capture.server.push(chunk));
    }
    socket.once('end', () => (exchange.ended ??= 'client-closed'));
    upstream.once('end', () => (exchange.ended ??= 'upstream-closed'));
    const close = (): void => {
      socket.destroy();
      upstream.destroy();
      exchange.ended ??= exchange.error ? 'error' : 'closed';
      if (capture !== undefined) exchange.websocket = capture.end();
      finish();
    };
    socket.once('close', close);
    upstream.once('close', close);
  }
}

/**
 * A reader of the frames when recording is on and the 101 switched to WebSocket (RFC 6455 §4.2.2);
 * other protocols (any `Upgrade` token) pass unread. None when the capture limit is 0: no cost.
 */
function captureOf(ctx: UpgradeContext, res: IncomingMessage): WebSocketCapture | undefined {
  if (ctx.captureBytes <= 0 || res.statusCode !== 101) return undefined;
  if (getHeader(res.rawHeaders, 'upgrade')?.trim().toLowerCase() !== 'websocket') return undefined;
  return new WebSocketCapture({
    captureBytes: ctx.captureBytes,
    perMessageDeflate: negotiatesPerMessageDeflate(getHeaderValues(res.rawHeaders, 'sec-websocket-extensions')),
  });
}

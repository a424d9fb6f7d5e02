/**
 * An upgrade the upstream declined (any answer but 101, RFC 9110 §7.8: a server may ignore
 * Upgrade and answer normally): relayed whole and close-delimited, since the client's socket has
 * already left the HTTP server (upgrade.ts). Under rules it takes the same response-side steps as
 * any exchange (http-exchange.ts steps 7-9): the response facts, an FPSE packet collected when a
 * rule reads or rewrites it, the response-side actions on a draft, and the draft written.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { now, type Exchange, type ResponseHead } from '../core/exchange.js';
import type { RawHeaders } from '../core/raw-headers.js';
import { FPSE_PACKET_CAP } from '../protocols/fpse-packet.js';
import type { Observation } from '../protocols/observer.js';
import type { RequestDraft, ResponseDraft } from '../rules/actions.js';
import type { RuleRun } from '../rules/engine.js';
import { addResponseBody, addResponseHead } from '../rules/facts.js';
import { collectBody } from './body-hold.js';
import { NO_FACTS } from './exchange-rules.js';
import { setContentLength } from './framing.js';
import { stripHopByHop } from './hop-by-hop.js';
import { serializeHead } from './respond.js';
import type { Throttle } from './throttle.js';

export interface Declined {
  socket: Duplex;
  exchange: Exchange;
  /** The rules of this exchange, when any could match; the request as forwarded, under rules. */
  run: RuleRun | undefined;
  forwardedDraft: RequestDraft | undefined;
  observation: Observation | undefined;
  /** Runs a step now or after a delay action's wait (cancelled with the exchange). */
  after(ms: number, step: () => void): void;
  /** A throttle for the response, destroyed with the exchange. */
  throttle(bytesPerSecond: number): Throttle;
}

export function relayDeclined(d: Declined, res: IncomingMessage): void {
  const { exchange, run } = d;
  exchange.timings.responseHead = now();
  const upstream: ResponseHead = { statusCode: res.statusCode ?? 502, statusMessage: res.statusMessage ?? '', httpVersion: res.httpVersion, rawHeaders: res.rawHeaders, source: 'upstream' };
  exchange.upstreamResponse = upstream;
  const draft: ResponseDraft = {
    facts: run?.facts ?? NO_FACTS,
    clientVersion: d.forwardedDraft?.clientVersion,
    status: upstream.statusCode,
    statusMessage: upstream.statusMessage,
    rawHeaders: closeDelimited(res.rawHeaders),
    delayMs: 0,
    ...(d.forwardedDraft?.throttle.response !== undefined && { throttle: d.forwardedDraft.throttle.response }),
  };
  if (run === undefined || run.ended) return deliver(d, res, draft, undefined);
  addResponseHead(run.facts, draft.status, res.rawHeaders);
  if (!run.needsResponseBody()) {
    run.applyResponse(draft, 'response-head');
    return deliver(d, res, draft, undefined);
  }
  // An FPSE packet is small HTML: collected (capped) so a rule can read or rewrite it.
  collectBody(res, FPSE_PACKET_CAP, ({ bytes, complete }) => {
    if (complete) draft.body = bytes;
    else draft.bodyMissing = `the response body is over the ${FPSE_PACKET_CAP / 1024} KiB buffer cap, so it streamed unchanged`;
    addResponseBody(run.facts, draft.body);
    run.applyResponse(draft, 'response-body');
    deliver(d, res, draft, complete ? undefined : bytes);
  });
}

/** The upstream's head less its hop-by-hop fields and its framing: the body ends with the connection. */
function closeDelimited(raw: RawHeaders): RawHeaders {
  const stripped = stripHopByHop(raw).headers;
  const headers: string[] = [];
  for (let i = 0; i < stripped.length; i += 2) {
    const name = stripped[i]!.toLowerCase();
    if (name !== 'transfer-encoding' && name !== 'content-length') headers.push(stripped[i]!, stripped[i + 1]!);
  }
  headers.push('Connection', 'close');
  return headers;
}

/** The draft's head, then its whole body when one was collected, else the upstream's bytes as they come. */
function deliver(d: Declined, res: IncomingMessage, draft: ResponseDraft, prefix: Buffer | undefined): void {
  const { socket, exchange, observation } = d;
  if (draft.delayMs > 0) res.pause();
  d.after(draft.delayMs, () => {
    // The client left while the body was collected: its record is already finished.
    if (socket.destroyed) return void res.destroy();
    const rawHeaders = draft.body === undefined ? draft.rawHeaders : setContentLength(draft.rawHeaders, draft.body.length);
    exchange.response = { statusCode: draft.status, statusMessage: draft.statusMessage, httpVersion: res.httpVersion, rawHeaders, source: 'upstream' };
    observation?.responseHead(draft.status, d.run === undefined ? res.rawHeaders : rawHeaders);
    socket.write(serializeHead(draft.status, draft.statusMessage, rawHeaders));
    let sink: NodeJS.WritableStream = socket;
    if (draft.throttle !== undefined) {
      const throttle = d.throttle(draft.throttle);
      throttle.pipe(socket);
      sink = throttle;
    }
    if (draft.body !== undefined) {
      exchange.bytes.response += draft.body.length;
      if (observation?.wantsResponseBody()) observation.responseBody(draft.body);
      sink.end(draft.body);
      return;
    }
    const pass = (chunk: Buffer): void => {
      exchange.bytes.response += chunk.length;
      if (observation?.wantsResponseBody()) observation.responseBody(chunk);
    };
    if (prefix !== undefined) {
      pass(prefix);
      sink.write(prefix);
    }
    res.on('data', pass);
    res.on('error', () => socket.destroy());
    res.pipe(sink);
  });
}

/**
 * The upstream's response body on its way to the client (step 9 of http-exchange.ts): streamed
 * as it arrives, with the record's capture and the protocol observer reading beside the pipe,
 * never in it (docs/running.md "Streaming"), and the writes of one event-loop turn leaving together.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { BodyCapture } from '../core/body-capture.js';
import { toPairs } from '../core/raw-headers.js';
import type { Observation } from '../protocols/observer.js';
import type { Throttle } from './throttle.js';

/**
 * Node writes each chunk of a chunked response with a write of its own, after the head: for a
 * MAPI/HTTP answer (head, PROCESSING, DONE and its headers, the body, the last chunk, most often
 * in one packet from the upstream) three write syscalls per exchange, and over TLS as many
 * records, each encrypted and sent. Corking the client's socket until the end of this event-loop
 * iteration lets what arrived together leave together, in one writev (strace: 3 → 2 writes per
 * exchange). Nothing waits for more data than this iteration already has (docs/running.md "Streaming"):
 * a long poll's PROCESSING still leaves at once. A response with Content-Length already leaves in
 * one write (head and body joined by Node), so it is not corked.
 */
export function holdWritesForThisTurn(socket: Socket | null): void {
  if (socket === null || socket.destroyed) return;
  socket.cork();
  setImmediate(uncork, socket);
}

function uncork(socket: Socket): void {
  socket.uncork();
}

/**
 * Relays the upstream's body after its head went out: `prefix` first (what a collector read
 * before it stopped at its cap), then the bytes as they arrive through `sink` (the response
 * itself, or a throttle piped to it), then the upstream's trailers and the end.
 */
export function relayResponseBody(
  res: ServerResponse,
  proxyRes: IncomingMessage,
  prefix: Buffer | undefined,
  capture: BodyCapture | undefined,
  observation: Observation | undefined,
  sink: ServerResponse | Throttle,
): void {
  if (prefix !== undefined) {
    capture?.add(prefix);
    if (observation?.wantsResponseBody()) observation.responseBody(prefix);
    res.write(prefix);
  }
  if (capture !== undefined) proxyRes.on('data', (chunk: Buffer) => capture.add(chunk));
  // The observer sees each chunk as it passes: no buffering, no delay (invariant 1).
  if (observation?.wantsResponseBody()) proxyRes.on('data', (chunk: Buffer) => observation.responseBody(chunk));
  if (sink !== res) sink.pipe(res, { end: false });
  proxyRes.pipe(sink, { end: false });
  proxyRes.once('end', () => {
    if (proxyRes.rawTrailers.length > 0) res.addTrailers(toPairs(proxyRes.rawTrailers));
    if (sink === res) return void res.end();
    sink.once('end', () => res.end());
    sink.end();
  });
}

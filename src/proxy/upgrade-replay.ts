/**
 * An Upgrade request that carries a body. Node's server hands every request with
 * `Connection: Upgrade` and `Upgrade` to the 'upgrade' event with its body unread, as bytes on a
 * socket that has left the HTTP parser; forwarded as a bodiless upgrade, such a request left the
 * upstream waiting for a body that never came. The body has to be read whole before any switch
 * (RFC 9110 §7.8; a server may also ignore Upgrade and answer normally), and the proxy relays a
 * switch only for bodiless requests (upgrade.ts). So the request goes back to an HTTP parser (a
 * second http.Server of the same configuration, server.ts) and through the ordinary pipeline:
 * rules, observers, body streaming and the record as for any request. `Upgrade` is hop-by-hop
 * (listed in `Connection`, RFC 9110 §7.6.1), so it is not forwarded and the upstream answers
 * normally; the connection stays HTTP and keep-alive.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { getHeader, type RawHeaders } from '../core/raw-headers.js';

/**
 * The name `Upgrade` is written as in the parsed-again head. Node's parser treats a request with
 * `Connection: Upgrade` + `Upgrade` as the end of HTTP on its connection even when no one takes
 * the upgrade (bytes pipelined after it are dropped), so the replay must not carry one; the
 * pipeline gets the client's head back before it reads it (restoreReplayedHead). Same length as
 * `Upgrade`, so the head cap (16 KiB) sees the same size.
 */
const PLACEHOLDER = 'X-Upgra';

/** The heads as the client sent them, by socket, until the replayed request is parsed again. */
const replayed = new WeakMap<Duplex, RawHeaders>();

/**
 * RFC 9112 §6.3: a request has a body when it has Transfer-Encoding or a non-zero Content-Length.
 * Anything but a plain zero counts as a body: in doubt, the strict HTTP parser decides.
 */
export function carriesBody(rawHeaders: RawHeaders): boolean {
  if (getHeader(rawHeaders, 'transfer-encoding') !== undefined) return true;
  const length = getHeader(rawHeaders, 'content-length');
  return length !== undefined && !/^0+$/.test(length.trim());
}

/** Gives the request (head rebuilt from its raw headers, then the bytes that followed it) to `server`. */
export function replayAsRequest(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // A replayed head never carries Upgrade, so it cannot come back here; should it ever, the
  // connection ends rather than loop.
  if (replayed.has(socket)) return void socket.destroy();
  let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase() === 'upgrade' ? PLACEHOLDER : raw[i]!;
    text += `${name}: ${raw[i + 1]!}\r\n`;
  }
  replayed.set(socket, raw);
  socket.unshift(Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]));
  server.emit('connection', socket);
}

/** The client's own head back on a replayed request (a no-op for every later request). */
export function restoreReplayedHead(req: IncomingMessage): void {
  const raw = replayed.get(req.socket);
  if (raw === undefined) return;
  replayed.delete(req.socket);
  req.rawHeaders = raw;
}

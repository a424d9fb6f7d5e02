/**
 * Answers the proxy makes itself (502, 504, 400 …): short `text/plain` bodies that name the
 * target and the cause, with an `X-Proxy-Error` header carrying the code so scripts can tell a
 * proxy-made answer from the upstream's. Two forms: on a ServerResponse, and as raw bytes on a
 * socket where no response object exists (client errors, CONNECT, upgrades).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { ResponseHead } from '../core/exchange.js';
import type { RawHeaders } from '../core/raw-headers.js';

const LINGER_MS = 2000;

export interface ProxyAnswer {
  status: number;
  code: string;
  message: string;
}

function answerParts(answer: ProxyAnswer, close: boolean): { head: ResponseHead; body: Buffer } {
  const body = Buffer.from(`version-proxy: ${answer.message}\n`, 'utf8');
  const rawHeaders: RawHeaders = [
    'Content-Type', 'text/plain; charset=utf-8',
    'Content-Length', String(body.length),
    'X-Proxy-Error', answer.code,
  ];
  if (close) rawHeaders.push('Connection', 'close');
  const head: ResponseHead = {
    statusCode: answer.status,
    statusMessage: STATUS_CODES[answer.status] ?? 'Error',
    httpVersion: '1.1',
    rawHeaders,
    source: 'proxy',
  };
  return { head, body };
}

export interface SentAnswer {
  head: ResponseHead;
  body: Buffer;
  bodyBytes: number;
}

/**
 * Sends the answer on a response whose head has not gone out yet; returns what was sent.
 * `beforeEnd` sees what will be sent before the bytes go (the record is written first).
 */
export function sendAnswer(res: ServerResponse, answer: ProxyAnswer, beforeEnd?: (sent: SentAnswer) => void): SentAnswer {
  const { head, body } = answerParts(answer, false);
  const sent = { head, body, bodyBytes: body.length };
  beforeEnd?.(sent);
  res.writeHead(head.statusCode, head.statusMessage, head.rawHeaders);
  res.end(body);
  return sent;
}

/** Writes the answer as raw HTTP/1.1 bytes and closes the connection after it; `beforeWrite` as above. */
export function writeRawAnswer(socket: Duplex, answer: ProxyAnswer, beforeWrite?: (sent: SentAnswer) => void): SentAnswer {
  const { head, body } = answerParts(answer, true);
  beforeWrite?.({ head, body, bodyBytes: body.length });
  endAndLinger(socket, Buffer.concat([serializeHead(head.statusCode, head.statusMessage, head.rawHeaders), body]));
  return { head, body, bodyBytes: body.length };
}

/**
 * Writes the last bytes and half-closes. Lingers briefly so the client can read them (closing at
 * once with unread input would send an RST that can discard them), but never waits on a client
 * that does not close.
 */
export function endAndLinger(socket: Duplex, bytes?: Buffer): void {
  socket.end(bytes);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** The raw bytes of a response head, for relaying a head exactly as received (101 answers). */
export function serializeHead(statusCode: number, statusMessage: string, rawHeaders: RawHeaders): Buffer {
  let text = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) text += `${rawHeaders[i]!}: ${rawHeaders[i + 1]!}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/**
 * A rule's `close`: a FIN and no answer. Unread request bytes would turn a plain destroy into a
 * TCP RST (and `close` would look like `reset`), so the rest of the body is read and dropped, and
 * the socket is destroyed when the client closes its side, or after the same linger as above.
 */
export function closeWithoutAnswer(req: IncomingMessage): void {
  req.resume();
  closeSocketWithoutAnswer(req.socket);
}

/** The same on a socket that has left the HTTP server (an upgrade request, upgrade.ts). */
export function closeSocketWithoutAnswer(socket: Duplex): void {
  socket.on('data', () => undefined);
  endAndLinger(socket);
}

/** The request head as the client sent it, for the record (raw headers: order, case, repeats). */
import type { IncomingMessage } from 'node:http';
import type { RequestHead } from '../core/exchange.js';
import type { ProxyAnswer } from './respond.js';

export function requestHeadOf(req: IncomingMessage): RequestHead {
  return { method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders };
}

/**
 * What a head the parser accepted may still not be forwarded as, checked before anything is
 * sent upstream: a major version other than 1 (Node's parser takes `HTTP/2.0` and would let it
 * go out as HTTP/1.1; RFC 9110 §15.6.6: 505), or more than one Host line (RFC 9112 §3.2: "A
 * server MUST respond with a 400 … to any HTTP/1.1 request message that … contains more than
 * one Host header field line"). One pass over the names, comparing lengths first.
 */
export function headRefusal(req: IncomingMessage): ProxyAnswer | undefined {
  if (req.httpVersionMajor !== 1) {
    return { status: 505, code: 'HTTP_VERSION_NOT_SUPPORTED', message: `HTTP/${req.httpVersion} is not supported: the proxy speaks HTTP/1.0 and HTTP/1.1 on this port` };
  }
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Length, then the first letter (h/H), before any string is made.
    if (name.length === 4 && (name.charCodeAt(0) | 0x20) === 0x68 && name.toLowerCase() === 'host' && ++hosts > 1) {
      return { status: 400, code: 'DUPLICATE_HOST', message: 'the request has more than one Host header line (RFC 9112 §3.2); send exactly one' };
    }
  }
  return undefined;
}

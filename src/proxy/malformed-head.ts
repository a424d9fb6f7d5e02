/**
 * A request head Node's parser refused (its 'clientError'): the answer the client gets, and what
 * the record keeps of the bytes. The record never keeps header lines, where credentials travel.
 */
import type { RequestHead } from '../core/exchange.js';
import type { ProxyAnswer } from './respond.js';

/** Node's parse error, with the chunk it was parsing and how far it got. */
export type ClientError = NodeJS.ErrnoException & { rawPacket?: Buffer; reason?: string; bytesParsed?: number };

export function answerFor(code: string, err: ClientError): ProxyAnswer {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, code, message: 'the request head is larger than the proxy accepts (16 KiB)' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') return { status: 408, code, message: 'the request head did not arrive in time' };
  // The HTTP/2 connection preface (RFC 9113 §3.4), at which Node's parser stops: this port speaks HTTP/1.x.
  if (code === 'HPE_PAUSED_H2_UPGRADE') return { status: 505, code: 'HTTP_VERSION_NOT_SUPPORTED', message: 'HTTP/2 is not supported: the proxy speaks HTTP/1.0 and HTTP/1.1 on this port' };
  if (code === 'HPE_INVALID_EOF_STATE') {
    return { status: 400, code: 'TRUNCATED_HEAD', message: 'the client ended its side of the connection before the request head was complete (a cut-off head, or an HTTP/0.9 request)' };
  }
  return { status: 400, code, message: `the request is not valid HTTP/1.1: ${err.reason ?? err.message}` };
}

const MAX_LINE = 256;
const MAX_OTHER = 8;

/**
 * What the record keeps of a refused head. Node hands over the chunk it was parsing, which need
 * not start at the request line (a long head arrives in several), so a line is kept only when it
 * has a request line's shape (method token, target, version): at most 256 bytes, non-printable
 * bytes escaped, split so that the journal's URL redaction applies to the target. Anything else
 * (a TLS ClientHello on the plain port, the middle of a head) keeps its first 8 bytes, escaped:
 * enough to tell what it was, too few for a credential. No bytes (an EOF) keep nothing.
 * `pipelined`: earlier, valid requests share the chunk, so the bad head starts after the last
 * blank line before the point where the parser stopped (best effort).
 */
export function malformedHead(err: ClientError, pipelined: boolean): RequestHead {
  const packet = err.rawPacket;
  const head: RequestHead = { method: '', url: '', httpVersion: '', rawHeaders: [] };
  if (packet === undefined || packet.length === 0) return head;
  let start = 0;
  if (pipelined) {
    const stop = err.bytesParsed ?? packet.length;
    const blank = packet.lastIndexOf('\r\n\r\n', Math.max(0, stop - 1));
    if (blank >= 0) start = blank + 4;
  }
  let end = packet.indexOf(10, start);
  if (end < 0) end = packet.length;
  const line = escapeBytes(packet.subarray(start, Math.min(end, start + MAX_LINE))).replace(/\\x0d$/, '');
  const request = /^([A-Z][A-Z_-]{0,31}) ([!-~]+)(?: (HTTP\/[!-~]{1,8}))?$/.exec(line);
  if (request) return { ...head, method: request[1]!, url: request[2]!, httpVersion: request[3]?.slice(5) ?? '' };
  return { ...head, url: escapeBytes(packet.subarray(start, Math.min(end, start + MAX_OTHER))) };
}

function escapeBytes(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) text += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return text;
}

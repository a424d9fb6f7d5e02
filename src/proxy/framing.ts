/**
 * Message framing (RFC 9112 §6) for the bodies the proxy relays, rewrites or makes: a response
 * body the upstream delimits by closing its connection, and a Content-Length that follows a body
 * whose length a rule changed. The edits return a new raw header list (raw-headers.ts), so the
 * record can keep both sides of a change (docs/running.md "Fidelity").
 */
import type { IncomingMessage } from 'node:http';
import { getHeader, getHeaderValues, setHeader, type RawHeaders } from '../core/raw-headers.js';

/**
 * RFC 9112 §6.3: a response with a body, and no Content-Length and no Transfer-Encoding (rule 8),
 * or a Transfer-Encoding whose final coding is not chunked (rule 4: "the message body length is
 * determined by reading the connection until it is closed by the server"; `chunked, identity`
 * is one, `identity` being obsolete since RFC 7230). Either is relayed as it came, to the close.
 */
export function isCloseDelimited(res: IncomingMessage, method: string | undefined): boolean {
  const status = res.statusCode ?? 0;
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) return false;
  if (getHeader(res.rawHeaders, 'content-length') !== undefined) return false;
  const codings = getHeaderValues(res.rawHeaders, 'transfer-encoding');
  return codings.length === 0 || !finalCodingIsChunked(codings);
}

/** The last coding of the (possibly repeated) Transfer-Encoding lines is `chunked` (RFC 9112 §6.1). */
export function finalCodingIsChunked(codings: readonly string[]): boolean {
  const list = codings[codings.length - 1]!;
  const last = list.slice(list.lastIndexOf(',') + 1);
  return last.trim().toLowerCase() === 'chunked';
}

/** A body edited by a rule keeps its framing honest: Content-Length follows the new length. */
export function adjustContentLength(raw: RawHeaders, delta: number): RawHeaders {
  const current = getHeader(raw, 'content-length');
  if (current === undefined || delta === 0) return raw;
  return setContentLength(raw, Number(current) + delta);
}

/** Content-Length for a body the proxy rewrote or made; left to chunking when the head has Transfer-Encoding. */
export function setContentLength(raw: RawHeaders, length: number): RawHeaders {
  if (getHeader(raw, 'content-length') === undefined && getHeader(raw, 'transfer-encoding') !== undefined) return raw;
  return setHeader(raw, 'Content-Length', String(length));
}

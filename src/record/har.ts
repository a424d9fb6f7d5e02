/**
 * One journal exchange line → one HAR 1.2 entry (http://www.softwareishard.com/blog/har-12-spec/).
 * Pure: no I/O; har-write.ts streams the log around these entries.
 *
 * What HAR 1.2 has no field for goes into custom fields, which the spec allows when their names
 * start with an underscore ("Custom fields"): `_versions` (protocol facts and verdicts), `_rules`
 * (applied rules with before/after), `_error`, `_intercepted`, `_tunnel` and `_upgrade` (byte
 * counts and how the connection ended), the proxy's other views
 * (`_forwarded`, `_upstreamResponse`), and Chrome's WebSocket convention (`_resourceType:
 * "websocket"`, `_webSocketMessages`) that DevTools and HAR viewers read (har-websocket.ts).
 * The HAR types are har-types.ts, re-exported here.
 *
 * Bodies stay what the journal kept: bytes as they passed (after de-chunking). A response with a
 * Content-Encoding is decoded when its capture is whole, since HAR 1.2 `content.text` is the
 * decoded body ("content", and `compression` says how many bytes it saved); a cut one stays
 * encoded, base64, with `_contentEncoding` saying so.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { getHeader, getHeaderValues, type RawHeaders } from '../core/raw-headers.js';
import { decodeBytes, type ExchangeLine, type JournalBody } from './entry.js';
import { MAX_DECODED, utf8Text } from './har-text.js';
import type { HarContent, HarCookie, HarEntry, HarNameValue, HarPostData, HarTimings } from './har-types.js';
import { addWebSocket, isWebSocket } from './har-websocket.js';

export type { HarContent, HarCookie, HarEntry, HarNameValue, HarPostData, HarTimings, HarWebSocketMessage } from './har-types.js';

/** The HAR entry of an exchange line. Throws only on a line that is not an exchange record at all. */
export function harEntry(line: ExchangeLine): HarEntry {
  const url = harUrl(line);
  const req = line.request;
  const entry: HarEntry = {
    startedDateTime: new Date(line.timings.start).toISOString(),
    time: 0,
    request: {
      method: line.kind === 'tunnel' ? 'CONNECT' : req.method,
      url: url.href,
      httpVersion: httpVersion(req.httpVersion),
      cookies: requestCookies(req.rawHeaders),
      headers: nameValues(req.rawHeaders),
      queryString: queryOf(url.href),
      headersSize: -1,
      bodySize: line.kind === 'http' ? (line.bodies?.request?.size ?? line.bytes.request) : 0,
    },
    response: harResponse(line),
    cache: {},
    timings: harTimings(line),
    connection: String(line.client.connection),
  };
  if (url.comment !== undefined) entry.request.comment = url.comment;
  // A tunnel's or an upgrade's byte counts are the whole connection's, not a request body.
  const postData = line.kind !== 'http' ? undefined : harPostData(req.rawHeaders, line.bodies?.request, line.bytes.request);
  if (postData !== undefined) entry.request.postData = postData;
  // HAR 1.2 "time": the sum of the timings that are not -1.
  const { blocked, dns, connect, send, wait, receive } = entry.timings;
  entry.time = round([blocked, dns, connect, send, wait, receive].reduce((sum, t) => (t > 0 ? sum + t : sum), 0));

  entry._id = line.id;
  entry._client = line.client;
  if (line.intercepted === true) entry._intercepted = true;
  if (line.protocol !== undefined) {
    const { protocol, operation, conversation, versions, facts, verdicts, problems, summary } = line.protocol;
    entry._versions = { protocol, operation, conversation, versions, facts, verdicts, problems, summary };
  }
  if (line.rules !== undefined && line.rules.length > 0) entry._rules = line.rules;
  if (line.error !== undefined) entry._error = line.error;
  if (line.hints !== undefined && line.hints.length > 0) entry._hints = line.hints;
  if (line.forwarded !== undefined) entry._forwarded = { path: line.forwarded.path, headers: nameValues(line.forwarded.rawHeaders) };
  if (line.upstreamResponse !== undefined) {
    const up = line.upstreamResponse;
    entry._upstreamResponse = { status: up.statusCode, statusText: up.statusMessage, httpVersion: httpVersion(up.httpVersion), headers: nameValues(up.rawHeaders) };
  }
  if (line.kind === 'tunnel') {
    entry._tunnel = { target: req.url, bytes: line.bytes, ended: line.ended ?? null, intercepted: line.intercepted === true };
  }
  if (line.kind === 'upgrade') {
    entry._upgrade = { bytes: line.bytes, ended: line.ended ?? null };
    if (isWebSocket(req.rawHeaders)) addWebSocket(entry, line);
  }
  return entry;
}

/**
 * HAR wants an absolute URL. The record's `url` is one for every exchange the proxy could route;
 * a tunnel records `host:port` (RFC 9110 §9.3.6), shown as `https://host:port`; a request that
 * could not be routed may have an origin-form target or none, rebuilt from Host where possible.
 */
function harUrl(line: ExchangeLine): { href: string; comment?: string } {
  if (line.kind === 'tunnel') {
    const target = line.request.url || line.url;
    return { href: `https://${target}/` };
  }
  let href = line.url;
  if (line.kind === 'upgrade' && isWebSocket(line.request.rawHeaders)) href = href.replace(/^http(s?):/i, 'ws$1:');
  if (isAbsolute(href)) return { href };
  const host = getHeader(line.request.rawHeaders, 'host');
  const target = line.request.url || line.url;
  if (host !== undefined && target.startsWith('/')) {
    const rebuilt = `${line.intercepted === true ? 'https' : 'http'}://${host}${target}`;
    if (isAbsolute(rebuilt)) return { href: rebuilt, comment: `rebuilt from Host and the request-target "${target}"` };
  }
  return { href: 'about:blank', comment: target === '' ? 'the request line could not be read' : `request-target as received: ${target}` };
}

function isAbsolute(href: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/[^\s/?#]+/i.test(href) && URL.canParse(href);
}

/** Node says `1.1`; HAR (like the status line, RFC 9112 §2.3) says `HTTP/1.1`. */
function httpVersion(version: string): string {
  return version === '' ? '' : version.startsWith('HTTP/') ? version : `HTTP/${version}`;
}

/** Every header line in wire order, duplicates kept (docs/running.md "Fidelity"). */
function nameValues(raw: RawHeaders): HarNameValue[] {
  const out: HarNameValue[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push({ name: raw[i]!, value: raw[i + 1]! });
  return out;
}

/** Query parameters as HAR viewers show them: decoded (WHATWG URL's application/x-www-form-urlencoded parsing). */
function queryOf(href: string): HarNameValue[] {
  if (!URL.canParse(href)) return [];
  return [...new URL(href).searchParams].map(([name, value]) => ({ name, value }));
}

/** `Cookie: a=1; b=2` (RFC 6265 §5.4), values as recorded, i.e. already redacted. */
function requestCookies(raw: RawHeaders): HarCookie[] {
  const cookies: HarCookie[] = [];
  for (const header of getHeaderValues(raw, 'cookie')) {
    for (const pair of header.split(';')) {
      const text = pair.trim();
      if (text === '') continue;
      const eq = text.indexOf('=');
      cookies.push(eq < 0 ? { name: '', value: text } : { name: text.slice(0, eq).trim(), value: text.slice(eq + 1).trim() });
    }
  }
  return cookies;
}

/** `Set-Cookie: name=value; Path=/; Expires=…; HttpOnly` (RFC 6265 §4.1), one cookie per line. */
function responseCookies(raw: RawHeaders): HarCookie[] {
  return getHeaderValues(raw, 'set-cookie').map((header) => {
    const [first = '', ...attributes] = header.split(';');
    const eq = first.indexOf('=');
    const cookie: HarCookie = eq < 0 ? { name: '', value: first.trim() } : { name: first.slice(0, eq).trim(), value: first.slice(eq + 1).trim() };
    for (const attribute of attributes) {
      const at = attribute.indexOf('=');
      const key = (at < 0 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
      const value = at < 0 ? '' : attribute.slice(at + 1).trim();
      if (key === 'path') cookie.path = value;
      else if (key === 'domain') cookie.domain = value;
      else if (key === 'httponly') cookie.httpOnly = true;
      else if (key === 'secure') cookie.secure = true;
      else if (key === 'expires' && !Number.isNaN(Date.parse(value))) cookie.expires = new Date(Date.parse(value)).toISOString();
    }
    return cookie;
  });
}

function mimeTypeOf(raw: RawHeaders, size: number): string {
  // RFC 9110 §8.3: without Content-Type a recipient may treat the body as application/octet-stream.
  return getHeader(raw, 'content-type') ?? (size > 0 ? 'application/octet-stream' : '');
}

function harPostData(raw: RawHeaders, body: JournalBody | undefined, bytes: number): HarPostData | undefined {
  const size = body?.size ?? bytes;
  if (size === 0) return undefined;
  const postData: HarPostData = { mimeType: mimeTypeOf(raw, size) };
  if (body === undefined) return postData;
  postData.text = body.data;
  if (body.encoding === 'base64') postData._encoding = 'base64';
  if (body.truncated === true) {
    postData._truncated = true;
    postData._size = keptSize(body);
  }
  return postData;
}

function harResponse(line: ExchangeLine): HarEntry['response'] {
  const res = line.response;
  if (res === undefined) {
    // No answer reached the client (aborted, refused before the head): HAR's convention is status 0.
    return { status: 0, statusText: '', httpVersion: '', cookies: [], headers: [], content: { size: 0, mimeType: '' }, redirectURL: '', headersSize: -1, bodySize: -1 };
  }
  // Once a tunnel is established or a protocol switched (101), the bytes are no HTTP body.
  const tunnel = (line.kind === 'tunnel' && res.statusCode >= 200 && res.statusCode < 300) || (line.kind === 'upgrade' && res.statusCode === 101);
  const body = line.bodies?.response;
  const bodySize = tunnel ? 0 : (body?.size ?? line.bytes.response);
  const response: HarEntry['response'] = {
    status: res.statusCode,
    statusText: res.statusMessage,
    httpVersion: httpVersion(res.httpVersion),
    cookies: responseCookies(res.rawHeaders),
    headers: nameValues(res.rawHeaders),
    content: harContent(res.rawHeaders, body, bodySize),
    redirectURL: getHeader(res.rawHeaders, 'location') ?? '',
    headersSize: -1,
    bodySize,
  };
  if (res.source !== 'upstream') response._source = res.source;
  return response;
}

const DECODERS: Record<string, (bytes: Buffer, options: { maxOutputLength: number }) => Buffer> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

function harContent(raw: RawHeaders, body: JournalBody | undefined, bodySize: number): HarContent {
  const content: HarContent = { size: bodySize, mimeType: mimeTypeOf(raw, bodySize) };
  if (body === undefined) return content;
  const coding = (getHeader(raw, 'content-encoding') ?? '').trim().toLowerCase();
  const decoder = DECODERS[coding];
  if (decoder !== undefined && body.truncated !== true) {
    try {
      const decoded = decoder(decodeBytes(body), { maxOutputLength: MAX_DECODED });
      content.size = decoded.length;
      content.compression = decoded.length - body.size;
      setText(content, decoded);
      return content;
    } catch {
      // Not what the header says, or too large: kept as it passed, flagged below.
    }
  }
  if (coding !== '' && coding !== 'identity') content._contentEncoding = coding;
  content.text = body.data;
  if (body.encoding === 'base64') content.encoding = 'base64';
  if (body.truncated === true) {
    content._truncated = true;
    content._size = keptSize(body);
  }
  return content;
}

function setText(content: HarContent, bytes: Buffer): void {
  const text = utf8Text(bytes);
  if (text !== undefined) content.text = text;
  else {
    content.text = bytes.toString('base64');
    content.encoding = 'base64';
  }
}

function keptSize(body: JournalBody): number {
  return body.encoding === 'base64' ? Buffer.byteLength(body.data, 'base64') : Buffer.byteLength(body.data, 'utf8');
}

/**
 * HAR 1.2 "timings": send, wait and receive are required and never -1; blocked, dns, connect and
 * ssl are -1 when unknown. The record knows when the upstream connection opened (DNS and TLS
 * included, so `connect` holds them and `ssl` stays -1), when the response head came and when the
 * exchange ended; the request's own end is not recorded, so `send` is 0 and `wait` holds it.
 */
function harTimings(line: ExchangeLine): HarTimings {
  const { start, upstreamConnected, responseHead, end } = line.timings;
  const span = (from: number | undefined, to: number | undefined): number => (from === undefined || to === undefined ? 0 : round(Math.max(0, to - from)));
  const connect = upstreamConnected === undefined ? -1 : span(start, upstreamConnected);
  const afterConnect = upstreamConnected ?? start;
  const wait = span(afterConnect, responseHead ?? end);
  const receive = responseHead === undefined ? 0 : span(responseHead, end);
  return { blocked: -1, dns: -1, connect, send: 0, wait, receive, ssl: -1 };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

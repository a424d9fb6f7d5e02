/**
 * The journal line of an exchange, written as JSON text by hand (entry.ts has the format).
 *
 * Why not `JSON.stringify(exchangeLine(x))`: recording runs once per exchange on the proxy's hot
 * path, and for the bench's 1 KiB exchange that cost ~11 µs of the ~30 µs recording added per
 * exchange (pinned profiles, issue 6's "recording on ≥ 0.9× off"). The record's shape is known,
 * so its keys are written as constants, and a body that is readable text needing no JSON escape
 * (the common case: HTML, XML, vermeer packets, form bodies) is not turned into a string at all:
 * its bytes go to the file as they are, between the text before and after it. Parts that are
 * rare or open-ended (protocol facts, rules, WebSocket messages, errors) still go through
 * JSON.stringify.
 *
 * Readers see what `JSON.stringify(exchangeLine(x))` would give once parsed (same keys, same
 * values, timings to the microsecond; only the key order may differ): test/unit/exchange-json.test.ts
 * holds it to that for records with every field present.
 */
import { isUtf8 } from 'node:buffer';
import type { CapturedBody, Exchange, ForwardedHead, RequestHead, ResponseHead } from '../core/exchange.js';
import type { RawHeaders } from '../core/raw-headers.js';
import { encodeBytes, encodeWebSocket, JOURNAL_VERSION } from './entry.js';

/** One line: text, with body bytes (already valid JSON string content) spliced in where they go. Ends with LF. */
export type LineParts = Array<string | Buffer>;

const str = JSON.stringify as (value: string) => string;

/** One native call for the whole list: ~0.15 µs a list less than a call per name and value. */
function headers(raw: RawHeaders): string {
  return JSON.stringify(raw);
}

function requestHead(r: RequestHead): string {
  return '{"method":' + str(r.method) + ',"url":' + str(r.url) + ',"httpVersion":' + str(r.httpVersion) + ',"rawHeaders":' + headers(r.rawHeaders) + '}';
}

function forwardedHead(f: ForwardedHead): string {
  return '{"path":' + str(f.path) + ',"rawHeaders":' + headers(f.rawHeaders) + '}';
}

function responseHead(r: ResponseHead): string {
  return (
    '{"statusCode":' + num(r.statusCode) + ',"statusMessage":' + str(r.statusMessage) + ',"httpVersion":' + str(r.httpVersion) + ',"rawHeaders":' + headers(r.rawHeaders) + ',"source":' + str(r.source) + '}'
  );
}

/** As JSON.stringify writes a number: `null` for NaN and the infinities. */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/**
 * A time to the microsecond (entry.ts): `1796575315168.502`. The shortest exact form of such a
 * double (`1796575315168.5022`) took ~1 µs a line for the four timings, toFixed a third of that.
 */
function time(n: number): string {
  return Number.isFinite(n) ? n.toFixed(3) : 'null';
}

/**
 * Bytes that may stand in a JSON string as they are: valid UTF-8 without `"`, `\` or any control
 * character. Entry.ts's rule for text (no control bytes other than TAB, LF, CR) holds for these
 * too, so the encoding chosen is the same as encodeBytes would choose.
 */
const UNSAFE = 1;
const NON_ASCII = 2;
/** Per byte: 0 (safe ASCII), UNSAFE, or NON_ASCII (safe only as part of valid UTF-8). */
const KIND = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) KIND[c] = UNSAFE;
KIND[0x22] = UNSAFE;
KIND[0x5c] = UNSAFE;
KIND[0x7f] = UNSAFE;
KIND.fill(NON_ASCII, 0x80);

/** Byte by byte: any bytes at all (non-ASCII ones are checked by isUtf8 at the end). */
function verbatimBytes(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (KIND[bytes[i]!] === UNSAFE) return false;
  return isUtf8(bytes);
}

/** Some byte of the word (four bytes) is zero. */
function hasZeroByte(x: number): boolean {
  return ((x - 0x01010101) & ~x & 0x80808080) !== 0;
}

/**
 * verbatimBytes, four bytes at a time while the text is ASCII (bodies are mostly ASCII text):
 * 0.75 instead of 1.3 µs a KiB. A word holding a byte of 0x80 or more sends the whole body to
 * verbatimBytes, which checks its UTF-8. Otherwise a word is unsafe when a byte is below 0x20
 * (x - 0x20202020 borrows into that byte's top bit; only exact for bytes below 0x80, which is
 * why those are excluded first) or equal to `"`, `\` or DEL (XOR makes that byte zero).
 */
function verbatim(bytes: Buffer): boolean {
  const n = bytes.length;
  const offset = bytes.byteOffset;
  // Up to the first 4-byte boundary of the underlying memory, then whole words, then the tail.
  const head = Math.min(n, (4 - (offset & 3)) & 3);
  const first = kindOf(bytes, 0, head);
  if (first !== 0) return first === UNSAFE ? false : verbatimBytes(bytes);
  let i = head;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const w = new Uint32Array(bytes.buffer, offset + i, words);
    for (let k = 0; k < words; k++) {
      const x = w[k]! | 0;
      if ((x & 0x80808080) !== 0) return verbatimBytes(bytes);
      if (((x - 0x20202020) & ~x & 0x80808080) !== 0 || hasZeroByte(x ^ 0x22222222) || hasZeroByte(x ^ 0x5c5c5c5c) || hasZeroByte(x ^ 0x7f7f7f7f)) return false;
    }
    i += words * 4;
  }
  const last = kindOf(bytes, i, n);
  if (last !== 0) return last === UNSAFE ? false : verbatimBytes(bytes);
  // All ASCII: valid UTF-8.
  return true;
}

/** The KIND of the first byte from `from` to `to` that is not safe ASCII; 0 when all are. */
function kindOf(bytes: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const kind = KIND[bytes[i]!]!;
    if (kind !== 0) return kind;
  }
  return 0;
}

/**
 * Appends `"<name>":{"size":…,"encoding":…,"data":"…"}` for one body: `parts` gets the text so far
 * and the raw bytes when they can go verbatim; returns the text that continues the line.
 */
function body(name: string, b: CapturedBody, text: string, parts: LineParts): string {
  text += '"' + name + '":{"size":' + num(b.size) + (b.truncated ? ',"truncated":true' : '');
  if (b.bytes.length > 0 && verbatim(b.bytes)) {
    parts.push(text + ',"encoding":"utf8","data":"', b.bytes);
    return '"}';
  }
  const encoded = encodeBytes(b.bytes);
  return text + ',"encoding":"' + encoded.encoding + '","data":' + str(encoded.data) + '}';
}

/**
 * The journal line of `x` (already redacted, src/record/redact.ts) as parts to write in order.
 * The last part is text ending in LF.
 */
export function exchangeLineParts(x: Exchange): LineParts {
  const parts: LineParts = [];
  let t = '{"v":' + JOURNAL_VERSION + ',"type":"exchange","id":' + str(x.id) + ',"kind":' + str(x.kind);
  t += ',"client":{"address":' + str(x.client.address) + ',"port":' + num(x.client.port) + ',"connection":' + num(x.client.connection) + '}';
  t += ',"url":' + str(x.url) + ',"request":' + requestHead(x.request);
  if (x.forwarded !== undefined) t += ',"forwarded":' + forwardedHead(x.forwarded);
  if (x.response !== undefined) t += ',"response":' + responseHead(x.response);
  if (x.upstreamResponse !== undefined) t += ',"upstreamResponse":' + responseHead(x.upstreamResponse);
  if (x.upstream !== undefined) {
    const u = x.upstream;
    t += ',"upstream":{' + (u.localAddress !== undefined ? '"localAddress":' + str(u.localAddress) + ',' : '') + (u.localPort !== undefined ? '"localPort":' + num(u.localPort) + ',' : '') + '"reused":' + (u.reused ? 'true' : 'false') + '}';
  }
  if (x.protocol !== undefined) t += ',"protocol":' + JSON.stringify(x.protocol);
  t += ',"bytes":{"request":' + num(x.bytes.request) + ',"response":' + num(x.bytes.response) + '}';
  const tm = x.timings;
  t += ',"timings":{"start":' + time(tm.start);
  if (tm.upstreamConnected !== undefined) t += ',"upstreamConnected":' + time(tm.upstreamConnected);
  if (tm.responseHead !== undefined) t += ',"responseHead":' + time(tm.responseHead);
  if (tm.end !== undefined) t += ',"end":' + time(tm.end);
  t += '}';
  if (x.intercepted !== undefined) t += ',"intercepted":' + (x.intercepted ? 'true' : 'false');
  if (x.hints !== undefined) t += ',"hints":' + JSON.stringify(x.hints);
  if (x.rules !== undefined) t += ',"rules":' + JSON.stringify(x.rules);
  if (x.ended !== undefined) t += ',"ended":' + str(x.ended);
  if (x.error !== undefined) t += ',"error":' + JSON.stringify(x.error);
  if (x.bodies !== undefined) {
    t += ',"bodies":{';
    const { request, response } = x.bodies;
    if (request !== undefined) t = body('request', request, t, parts);
    if (response !== undefined) t = body('response', response, request !== undefined ? t + ',' : t, parts);
    t += '}';
  }
  if (x.websocket !== undefined) t += ',"websocket":' + JSON.stringify(encodeWebSocket(x.websocket));
  parts.push(t + '}\n');
  return parts;
}

/**
 * One exchange as a curl command that sends the request the client sent: its method, URL,
 * headers in their order and case, and body. Values the record redacted stay redacted (the
 * command says so); framing headers curl writes itself (RFC 9112 §6: Content-Length,
 * Transfer-Encoding) and hop-by-hop ones (RFC 9110 §7.6.1) are left to curl.
 */
import type { ExchangeRecord } from './types.js';

const LEFT_TO_CURL = new Set(['content-length', 'transfer-encoding', 'connection', 'proxy-connection', 'keep-alive', 'te', 'upgrade', 'proxy-authorization']);

/** POSIX shell single quotes: nothing inside is special but the quote itself. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function curlCommand(x: ExchangeRecord): string {
  const url = /^[a-z]+:\/\//i.test(x.request.url) ? x.request.url : x.url;
  const parts = ['curl', '--http1.1', '-X', shellQuote(x.request.method), shellQuote(url)];
  const raw = x.request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (LEFT_TO_CURL.has(raw[i]!.toLowerCase())) continue;
    parts.push('-H', shellQuote(`${raw[i]!}: ${raw[i + 1]!}`));
  }
  const notes: string[] = [];
  const body = x.bodies?.request;
  let prefix = '';
  if (body !== undefined && body.size > 0) {
    if (body.encoding === 'utf8') parts.push('--data-binary', shellQuote(body.data));
    else {
      prefix = `printf %s ${shellQuote(body.data)} | base64 -d | `;
      parts.push('--data-binary', '@-');
    }
    if (body.truncated === true) notes.push(`# the body was captured only in part (${body.data.length} of ${body.size} bytes): this sends the part`);
  } else if (x.bytes.request > 0) {
    notes.push(`# the request had a body of ${x.bytes.request} bytes that was not captured (recording off?)`);
  }
  if (raw.some((v, i) => i % 2 === 1 && /<redacted \d+ bytes?>/.test(v))) notes.push('# some values were redacted in the record: put the real ones back');
  return [...notes, prefix + parts.join(' ')].join('\n');
}

/**
 * The first bytes of a request head the proxy could not parse, as the debug log shows them
 * (issue 21 finding 3): the request line's target through the URL redaction, every header line
 * through the header redaction, so `Authorization: Basic …` in a malformed request is no more
 * logged than in a well-formed one. The text may stop anywhere, even inside a line: a header
 * line cut inside its value is still redacted, and a request-target cut before its authority
 * ended (where a userinfo `@` might have followed) has that authority redacted whole.
 */
import { marker } from './redact-values.js';

/** `text` (latin1 of the raw bytes) with secrets redacted; `url` and `value` as the Redactor's. */
export function redactHeadText(text: string, url: (url: string) => string, value: (name: string, value: string) => string): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const cr = lines[i]!.endsWith('\r') ? '\r' : '';
    const line = cr === '' ? lines[i]! : lines[i]!.slice(0, -1);
    const cut = i === lines.length - 1;
    lines[i] = (i === 0 ? requestLine(line, cut, url) : headerLine(line, value)) + cr;
  }
  return lines.join('\n');
}

// RFC 9112 §3: request-line = method SP request-target SP HTTP-version. Whatever the
// malformation, the second space-separated word is where a URL would be.
function requestLine(line: string, cut: boolean, url: (url: string) => string): string {
  const first = line.indexOf(' ');
  if (first < 0) return line;
  const second = line.indexOf(' ', first + 1);
  const end = second < 0 ? line.length : second;
  let target = url(line.slice(first + 1, end));
  if (cut && second < 0) target = cutAuthority(target);
  return line.slice(0, first + 1) + target + line.slice(end);
}

/** An absolute-form target whose authority runs to the end of the text: it may be a userinfo cut before its `@`. */
function cutAuthority(target: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(target);
  if (scheme === null) return target;
  const rest = target.slice(scheme[0].length);
  if (/[/?#@]/.test(rest)) return target;
  return scheme[0] + marker(rest);
}

// RFC 9112 §5: field-line = field-name ":" OWS field-value OWS.
function headerLine(line: string, value: (name: string, value: string) => string): string {
  const colon = line.indexOf(':');
  if (colon <= 0) return line;
  const name = line.slice(0, colon);
  const rest = line.slice(colon + 1);
  const lead = rest.length - rest.trimStart().length;
  const text = rest.slice(lead);
  const redacted = value(name.trim(), text);
  return redacted === text ? line : `${name}:${rest.slice(0, lead)}${redacted}`;
}

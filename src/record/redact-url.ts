/**
 * Secrets in URLs, redacted before a record or log line leaves the process (issue 21 finding 3):
 * the credentials of a userinfo (`http://user:password@host/`, RFC 3986 §3.2.1; RFC 9110 §4.2.4
 * forbids sending it, old clients still do in forward mode) and the values of well-known
 * credential parameters in the query (OAuth 2.0 `access_token`, RFC 6750 §2.3; `code`, RFC 6749
 * §4.1.2; Azure SAS `sig`; AWS SigV4 `X-Amz-Signature`, …). Names stay, values become a marker.
 *
 * The marker in a query is percent-encoded (`%3Credacted%2012%20bytes%3E`), so the URL stays a
 * valid request-target: HAR viewers decode it to `<redacted 12 bytes>`, and `./proxy replay` can
 * still send the request (the upstream sees the marker, not a secret). Only the copy on the record
 * is redacted: what the proxy forwards is never touched.
 */
import { marker } from './redact-values.js';

/**
 * Query parameters redacted by default (names compared case-insensitively, after percent-decoding).
 * OAuth 2.0 (RFC 6749, RFC 6750, OpenID Connect), Azure SAS, AWS SigV4 and Google signed URLs,
 * and the generic names web apps use for passwords, tokens and API keys.
 */
export const DEFAULT_REDACTED_PARAMS: readonly string[] = Object.freeze([
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'code',
  'client_secret',
  'secret',
  'password',
  'passwd',
  'pwd',
  'api_key',
  'apikey',
  'api-key',
  'auth',
  'sig',
  'signature',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
  'X-Amz-Credential',
  'X-Goog-Signature',
  'X-Goog-Credential',
]);

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i;
/** A value already redacted, in a URL (encoded) or as written by hand. */
const ENCODED_MARKER = /^(%3C|<)redacted(%20| )\d+(%20| )bytes?(%3E|>)$/i;

/** A function that redacts `url`'s userinfo and credential parameters; the same string back when there is nothing to redact. */
export function urlRedactor(extraParams: readonly string[]): (url: string) => string {
  const names = paramNames([...DEFAULT_REDACTED_PARAMS, ...extraParams]);
  return (url) => {
    // Nearly every URL has neither: two character searches, no allocation. An `@` in the query
    // (MAPI/HTTP's MailboxId=…@domain) cannot be a userinfo's.
    const query = url.indexOf('?');
    const at = url.indexOf('@');
    let out = at < 0 || (query >= 0 && at > query) ? url : redactUserinfo(url);
    if (query >= 0) out = redactQuery(out, names);
    return out;
  };
}

/** Only the userinfo (the query is left as sent). */
export function redactUserinfo(url: string): string {
  const info = userinfoOf(url);
  if (info === undefined || info.startsWith('<redacted ')) return url;
  // It starts after the scheme's `://` (absolute URL) or at 0 (authority-form).
  const start = USERINFO.exec(url)?.[1]!.length ?? 0;
  return `${url.slice(0, start)}${marker(info)}${url.slice(start + info.length)}`;
}

/**
 * The userinfo of an absolute URL (`http://user:pw@host/` → `user:pw`), or of a CONNECT's
 * authority-form target, which may not carry one (RFC 9112 §3.2.3) but a client may still write
 * (`user:pw@host:443`); undefined when there is none. Origin-form (`/a@b`) has none.
 */
export function userinfoOf(url: string): string | undefined {
  const match = USERINFO.exec(url);
  if (match !== null) return match[2]!;
  const at = url.lastIndexOf('@');
  return at <= 0 || url.includes('/') ? undefined : url.slice(0, at);
}

/** The query of `url` (from the first `?` to the fragment) with the values of `names` redacted. */
function redactQuery(url: string, names: ParamNames): string {
  const start = url.indexOf('?') + 1;
  const hash = url.indexOf('#', start);
  const end = hash < 0 ? url.length : hash;
  let out: string | undefined;
  let copied = 0;
  let from = start;
  while (from <= end) {
    let amp = url.indexOf('&', from);
    if (amp < 0 || amp > end) amp = end;
    const eq = url.indexOf('=', from);
    if (eq >= 0 && eq < amp && eq + 1 < amp && names(url, from, eq)) {
      const value = url.slice(eq + 1, amp);
      if (!ENCODED_MARKER.test(value)) {
        out = (out ?? '') + url.slice(copied, eq + 1) + encodeURIComponent(marker(value));
        copied = amp;
      }
    }
    from = amp + 1;
  }
  return out === undefined ? url : out + url.slice(copied);
}

/** Whether url[from, to) is one of the names; called once per query parameter, so a miss allocates nothing. */
type ParamNames = (url: string, from: number, to: number) => boolean;

/**
 * Names filed by length and compared letter by letter with ASCII case folded, as redact.ts files
 * header names. A name written percent-encoded (`access%5Ftoken`) is decoded first: rare, so
 * only then is a string made.
 */
function paramNames(list: readonly string[]): ParamNames {
  const byLength: Array<string[] | undefined> = [];
  for (const name of list) if (name !== '') (byLength[name.length] ??= []).push(name.toLowerCase());
  const known = (text: string, from: number, to: number): boolean => {
    const bucket = byLength[to - from];
    if (bucket === undefined) return false;
    return bucket.some((lower) => {
      for (let i = 0; i < lower.length; i++) {
        let c = text.charCodeAt(from + i);
        if (c >= 0x41 && c <= 0x5a) c += 0x20;
        if (c !== lower.charCodeAt(i)) return false;
      }
      return true;
    });
  };
  return (url, from, to) => {
    if (known(url, from, to)) return true;
    const percent = url.indexOf('%', from);
    if (percent < 0 || percent >= to) return false;
    const decoded = decodeName(url.slice(from, to));
    return known(decoded, 0, decoded.length);
  };
}

/** A percent-encoded parameter name, `+` as a space (application/x-www-form-urlencoded); as written when it does not decode. */
function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/** Names of the query parameters of `url` whose values are redaction markers (for `./proxy replay` to name them). */
export function redactedParams(url: string): string[] {
  const query = url.indexOf('?');
  if (query < 0) return [];
  const hash = url.indexOf('#', query);
  const names: string[] = [];
  for (const pair of url.slice(query + 1, hash < 0 ? url.length : hash).split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && ENCODED_MARKER.test(pair.slice(eq + 1))) names.push(pair.slice(0, eq));
  }
  return names;
}

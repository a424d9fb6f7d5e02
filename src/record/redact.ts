/**
 * Redaction of secrets before a record leaves the process: journal, HAR, report, live output and
 * logs (issue 6 item 2, docs/recordings.md "Redaction"). On by default; `--redact-header NAME` adds headers
 * redacted whole, `--redact-param NAME` query parameters, `--no-redact` turns it off (the app logs
 * that). URLs (userinfo, credential parameters) are redacted by redact-url.ts.
 *
 * Names are matched case-insensitively; the name's spelling, the order of header lines and their
 * repeats are kept (docs/running.md "Fidelity"): only values change, and they keep their shape (see
 * redact-values.ts). `exchange()` runs once per finished exchange on the proxy's hot path, so the
 * common case (no secret header) scans without allocating and hands back its input.
 */
import type { Exchange, RuleChange, RuleRecord, TrafficError } from '../core/exchange.js';
import type { RawHeaders } from '../core/raw-headers.js';
import { redactHeadText } from './redact-head.js';
import { urlRedactor, userinfoOf } from './redact-url.js';
import { marker, redactValue, type SecretKind } from './redact-values.js';

export { DEFAULT_REDACTED_PARAMS } from './redact-url.js';

/** The same shape as config's RedactionConfig (config is a higher layer, so it is said again here). */
export interface RedactionOptions {
  enabled: boolean;
  extraHeaders: string[];
  /** Query parameters redacted beyond DEFAULT_REDACTED_PARAMS (`--redact-param`). */
  extraParams?: string[];
}

export interface Redactor {
  readonly enabled: boolean;
  /** The `--redact-header` names beyond the defaults, for a report to say what was redacted. */
  readonly extraHeaders?: readonly string[];
  /** Raw header list with secret values redacted; the SAME array back (no allocation) when nothing needed redaction. */
  headers(raw: RawHeaders): RawHeaders;
  /**
   * A copy of the exchange with secrets redacted in request.rawHeaders, forwarded.rawHeaders,
   * response.rawHeaders, upstreamResponse.rawHeaders and rules[].changes. Never mutates its
   * input; returns the input object itself when nothing needed redaction.
   */
  exchange(x: Exchange): Exchange;
  /**
   * A URL (absolute or origin-form) with the credentials of its userinfo and the values of its
   * credential query parameters redacted (`http://<redacted 9 bytes>@host/?sig=%3Credacted%2044%20bytes%3E`).
   */
  url(url: string): string;
  /** Rule changes with redacted header values (before/after). Same array back when nothing changed. */
  changes(changes: RuleChange[]): RuleChange[];
  /** One header value redacted as `name` would be; the value itself when the header is not secret. */
  value(name: string, value: string): string;
  /** Raw head text (a malformed request's first bytes, for the debug log) with its URL and header values redacted. */
  headText(text: string): string;
}

const DEFAULT_KINDS: ReadonlyArray<readonly [string, SecretKind]> = [
  ['Authorization', 'credentials'],
  ['Proxy-Authorization', 'credentials'],
  ['WWW-Authenticate', 'challenges'],
  ['Proxy-Authenticate', 'challenges'],
  // Covers the MAPI/HTTP session cookies (MapiContext, MapiSequence, MapiRouting; docs/protocols.md §1.5).
  ['Cookie', 'cookie'],
  ['Set-Cookie', 'set-cookie'],
  // API keys and tokens sent in headers of their own (issue 21 finding 3): the whole value goes.
  // Azure API Management, Azure Functions, GitLab, HashiCorp Vault, AWS STS, Google, and the
  // generic names of web APIs.
  ['X-Api-Key', 'whole'],
  ['Api-Key', 'whole'],
  ['X-Auth-Token', 'whole'],
  ['X-Access-Token', 'whole'],
  ['X-Amz-Security-Token', 'whole'],
  ['X-Goog-Api-Key', 'whole'],
  ['Ocp-Apim-Subscription-Key', 'whole'],
  ['X-Functions-Key', 'whole'],
  ['Private-Token', 'whole'],
  ['X-Vault-Token', 'whole'],
  ['X-CSRF-Token', 'whole'],
];

/** The headers always redacted (values keep their shape), for docs and --help. */
export const DEFAULT_REDACTED_HEADERS: readonly string[] = Object.freeze(DEFAULT_KINDS.map(([name]) => name));

const IDENTITY: Redactor = Object.freeze({
  enabled: false,
  headers: (raw: RawHeaders) => raw,
  exchange: (x: Exchange) => x,
  url: (url: string) => url,
  changes: (changes: RuleChange[]) => changes,
  value: (_name: string, value: string) => value,
  headText: (text: string) => text,
});

export function createRedactor(options: RedactionOptions): Redactor {
  if (!options.enabled) return IDENTITY;
  const kindOf = secretKinds(options.extraHeaders);
  const redactUrl = urlRedactor(options.extraParams ?? []);

  const headers = (raw: RawHeaders): RawHeaders => {
    let out: RawHeaders | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const kind = kindOf(raw[i]!);
      if (kind === undefined) continue;
      const value = raw[i + 1]!;
      const redacted = redactValue(kind, value);
      if (redacted === value) continue;
      out ??= raw.slice();
      out[i + 1] = redacted;
    }
    return out ?? raw;
  };

  const redactText = (kind: SecretKind, text: string | undefined): string | undefined => (text === undefined ? undefined : redactValue(kind, text));

  // RuleChange.target names the header a setHeader/removeHeader/status action touched
  // (src/rules/actions.ts); other targets (`status`, `request body: method`) are never secret.
  const changes = (list: RuleChange[]): RuleChange[] => {
    let out: RuleChange[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const change = list[i]!;
      const kind = kindOf(change.target);
      if (kind === undefined) continue;
      const before = redactText(kind, change.before);
      const after = redactText(kind, change.after);
      if (before === change.before && after === change.after) continue;
      out ??= list.slice();
      out[i] = { ...change, ...(before !== undefined && { before }), ...(after !== undefined && { after }) };
    }
    return out ?? list;
  };

  const rules = (list: RuleRecord[]): RuleRecord[] => {
    let out: RuleRecord[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const rule = list[i]!;
      const redacted = changes(rule.changes);
      if (redacted === rule.changes) continue;
      out ??= list.slice();
      out[i] = { ...rule, changes: redacted };
    }
    return out ?? list;
  };

  const exchange = (x: Exchange): Exchange => {
    const url = redactUrl(x.url);
    // In forward mode the two are one string: redacted once.
    const requestUrl = x.request.url === x.url ? url : redactUrl(x.request.url);
    const request = headers(x.request.rawHeaders);
    const forwarded = x.forwarded === undefined ? undefined : headers(x.forwarded.rawHeaders);
    const forwardedPath = x.forwarded === undefined ? undefined : redactUrl(x.forwarded.path);
    const response = x.response === undefined ? undefined : headers(x.response.rawHeaders);
    const upstream = x.upstreamResponse === undefined ? undefined : headers(x.upstreamResponse.rawHeaders);
    const ruleRecords = x.rules === undefined ? undefined : rules(x.rules);
    // A message that quotes the request-target (CONNECT's "needs host:port (got …)") would keep
    // a userinfo the URL lost: it goes there too. Only when the URL had one, so never on the hot path.
    const error = x.error === undefined || requestUrl === x.request.url ? x.error : withoutUserinfo(x.error, x.request.url);
    if (
      url === x.url &&
      requestUrl === x.request.url &&
      request === x.request.rawHeaders &&
      forwarded === x.forwarded?.rawHeaders &&
      forwardedPath === x.forwarded?.path &&
      response === x.response?.rawHeaders &&
      upstream === x.upstreamResponse?.rawHeaders &&
      ruleRecords === x.rules &&
      error === x.error
    ) {
      return x;
    }
    const copy: Exchange = { ...x };
    copy.url = url;
    if (request !== x.request.rawHeaders || requestUrl !== x.request.url) copy.request = { ...x.request, url: requestUrl, rawHeaders: request };
    if (x.forwarded !== undefined && (forwarded !== x.forwarded.rawHeaders || forwardedPath !== x.forwarded.path)) {
      copy.forwarded = { ...x.forwarded, path: forwardedPath!, rawHeaders: forwarded! };
    }
    if (x.response !== undefined && response !== x.response.rawHeaders) copy.response = { ...x.response, rawHeaders: response! };
    if (x.upstreamResponse !== undefined && upstream !== x.upstreamResponse.rawHeaders) copy.upstreamResponse = { ...x.upstreamResponse, rawHeaders: upstream! };
    if (ruleRecords !== x.rules) copy.rules = ruleRecords;
    if (error !== x.error) copy.error = error;
    return copy;
  };

  const value = (name: string, text: string): string => {
    const kind = kindOf(name);
    return kind === undefined ? text : redactValue(kind, text);
  };

  const headText = (text: string): string => redactHeadText(text, redactUrl, value);

  return Object.freeze({ enabled: true, extraHeaders: Object.freeze([...options.extraHeaders]), headers, exchange, url: redactUrl, changes, value, headText });
}

/** `error` with every copy of `url`'s userinfo replaced by its marker; the same object when there is none. */
function withoutUserinfo(error: TrafficError, url: string): TrafficError {
  const info = userinfoOf(url);
  if (info === undefined || !error.message.includes(info)) return error;
  return { ...error, message: error.message.split(info).join(marker(info)) };
}

/**
 * A lookup from a header name, in any case, to how its value is redacted. Candidates are filed by
 * name length and compared letter by letter, so the common miss allocates nothing. The defaults
 * win over a `--redact-header` of the same name: they already hide every secret and keep the shape.
 */
function secretKinds(extraHeaders: readonly string[]): (name: string) => SecretKind | undefined {
  const byLength: Array<Array<readonly [string, SecretKind]> | undefined> = [];
  const add = (name: string, kind: SecretKind): void => {
    const lower = name.toLowerCase();
    const bucket = (byLength[lower.length] ??= []);
    if (!bucket.some(([known]) => known === lower)) bucket.push([lower, kind]);
  };
  for (const [name, kind] of DEFAULT_KINDS) add(name, kind);
  for (const name of extraHeaders) if (name !== '') add(name, 'whole');
  return (name) => {
    const bucket = byLength[name.length];
    if (bucket === undefined) return undefined;
    for (const [lower, kind] of bucket) if (equalsLowerCase(name, lower)) return kind;
    return undefined;
  };
}

/** `name` equals `lower` (already lower-cased) when ASCII letters are folded; no allocation. */
function equalsLowerCase(name: string, lower: string): boolean {
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}


/**
 * MAPI/HTTP message heads: which requests are MAPI/HTTP, and the facts their headers state
 * (MS-OXCMAPIHTTP 2.2.2, 2.2.3; docs/protocols.md §1.2–§1.7). Pure functions over raw header lists;
 * the inner stream of a response body is read by mapihttp-stream.ts.
 *
 * Version "negotiation" here is one header each way (docs/protocols.md §1.1): the client states
 * its build in X-ClientApplication, the server its build in X-ServerApplication, and each
 * side then limits itself. So those two headers are parsed as versions; everything else is
 * recorded as stated and checked against the spec's MUSTs, never trusted to conform.
 */
import { quote } from '../core/quote.js';
import { HeaderSet, type PickedHeaders, type RawHeaders, getHeader } from '../core/raw-headers.js';
import { type VersionResult, parseVersion } from '../core/version.js';
import { type ResponseCode, parseResponseCodeValues } from './mapihttp-codes.js';

export type MapiEndpoint = 'emsmdb' | 'nspi' | 'other';

// MS-OXCMAPIHTTP 2.2.3.3.1: header values per endpoint, spelled as on the wire (CompareMIds and
// DNToMId, not the prose names CompareMinIds/DNToMinId). gromox compares case-insensitively.
export const REQUEST_TYPES: Readonly<Record<'emsmdb' | 'nspi', readonly string[]>> = Object.freeze({
  emsmdb: Object.freeze(['Connect', 'Execute', 'Disconnect', 'NotificationWait', 'PING']),
  nspi: Object.freeze([
    'Bind', 'Unbind', 'CompareMIds', 'DNToMId', 'GetMatches', 'GetPropList', 'GetProps', 'GetSpecialTable',
    'GetTemplateInfo', 'ModLinkAtt', 'ModProps', 'QueryColumns', 'QueryRows', 'ResolveNames', 'ResortRestriction',
    'SeekEntries', 'UpdateStat', 'GetMailboxUrl', 'GetAddressBookUrl', 'PING',
  ]),
});

const CANONICAL: Readonly<Record<MapiEndpoint, ReadonlyMap<string, string>>> = {
  emsmdb: new Map(REQUEST_TYPES.emsmdb.map((t) => [t.toLowerCase(), t])),
  nspi: new Map(REQUEST_TYPES.nspi.map((t) => [t.toLowerCase(), t])),
  other: new Map([...REQUEST_TYPES.emsmdb, ...REQUEST_TYPES.nspi].map((t) => [t.toLowerCase(), t])),
};

/** The spec spelling of a request type (case-insensitive match), or undefined if it is none. */
export function canonicalRequestType(value: string, endpoint: MapiEndpoint = 'other'): string | undefined {
  return CANONICAL[endpoint].get(value.trim().toLowerCase());
}

/** The request types that create a Session Context; their responses carry the session cookies (docs/protocols.md §1.5). */
export const SESSION_REQUEST_TYPES: readonly string[] = Object.freeze(['Connect', 'Bind']);

interface Target {
  pathname: string;
  query: string;
}

/** Splits a request target; absolute-form (`http://host/mapi/…`, plain-HTTP proxy requests) is accepted too. */
function splitTarget(path: string): Target {
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(path);
  const rest = origin === null ? path : path.slice(origin[0].length) || '/';
  const hash = rest.indexOf('#');
  const noHash = hash === -1 ? rest : rest.slice(0, hash);
  const q = noHash.indexOf('?');
  return q === -1 ? { pathname: noHash, query: '' } : { pathname: noHash.slice(0, q), query: noHash.slice(q + 1) };
}

/**
 * MS-OXCMAPIHTTP 2.1 / docs/protocols.md §1.2: `/mapi/emsmdb/` and `/mapi/nspi/`, compared
 * case-insensitively as gromox does. The trailing slash is optional so `/mapi/emsmdb?MailboxId=`
 * is still recognised; the Content-Type / X-RequestType test in claimsMapiHttp keeps this honest.
 */
export function mapiEndpoint(path: string): MapiEndpoint {
  const pathname = splitTarget(path).pathname.toLowerCase();
  if (/^\/mapi\/emsmdb(\/|$)/.test(pathname)) return 'emsmdb';
  if (/^\/mapi\/nspi(\/|$)/.test(pathname)) return 'nspi';
  return 'other';
}

function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase();
}

/**
 * Whether a request head is MAPI/HTTP: a POST (MS-OXCMAPIHTTP 2.1: every request is a POST) to
 * one of the two endpoints that also says so, by `Content-Type: application/mapi-http`
 * (2.2.3.2.2) or by carrying `X-RequestType` (2.2.3.3.1). The second test keeps an Outlook Web
 * or admin page under a similar path from being read as MAPI/HTTP.
 */
export function claimsMapiHttp(method: string, path: string, rawHeaders: RawHeaders): boolean {
  return mapiClaim(method, path, rawHeaders) !== undefined;
}

/** claimsMapiHttp's answer as the endpoint claimed, so the observer need not split the path again. */
export function mapiClaim(method: string, path: string, rawHeaders: RawHeaders): 'emsmdb' | 'nspi' | undefined {
  if (method !== 'POST') return undefined;
  const endpoint = mapiEndpoint(path);
  if (endpoint === 'other') return undefined;
  const claimed = mediaType(getHeader(rawHeaders, 'Content-Type')) === 'application/mapi-http' || getHeader(rawHeaders, 'X-RequestType') !== undefined;
  return claimed ? endpoint : undefined;
}

const GUID_COUNTER = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?:(\d{1,15})$/i;

/** `GUID:counter` as in X-RequestId and X-ClientInfo (MS-OXCMAPIHTTP 2.2.3.3.2, 2.2.3.3.4); braces optional. */
export function parseGuidCounter(text: string): { guid: string; counter: number } | undefined {
  const m = GUID_COUNTER.exec(text.trim());
  return m === null ? undefined : { guid: m[1]!, counter: Number(m[2]) };
}

/** The value of `name` in a query string, name matched case-insensitively (gromox compares `?MailboxId=` so). */
function queryParam(query: string, name: string, problems: string[]): string | undefined {
  const lower = name.toLowerCase();
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (key.toLowerCase() !== lower) continue;
    const raw = eq === -1 ? '' : pair.slice(eq + 1);
    if (!raw.includes('%')) return raw;
    try {
      return decodeURIComponent(raw);
    } catch {
      problems.push(`${name} ${quote(raw)} is not valid percent-encoding; kept as sent`);
      return raw;
    }
  }
  return undefined;
}

/**
 * The value of a header that the spec defines once per message. Repeats with different values
 * are noted; the first counts, as `getHeader` would. (X-ResponseCode is the exception: see
 * observeMapiResponse.)
 */
function single(picked: PickedHeaders, name: string, problems: string[]): string | undefined {
  const values = picked.get(name);
  if (values === undefined || values.length === 1) return values?.[0]; // the usual case, without the Set below
  const distinct = [...new Set(values)];
  if (distinct.length > 1) {
    problems.push(`${name} repeated with different values (${distinct.map((v) => quote(v)).join(', ')}); the first counts`);
  }
  return values[0];
}

function cookieNamesOf(values: readonly string[] | undefined): string[] {
  // MS-OXCMAPIHTTP 2.2.3.2 (Cookie): `name=value` pairs separated by ';'. Values are session secrets: never kept.
  const names: string[] = [];
  for (const value of values ?? []) {
    for (const pair of value.split(';')) {
      const eq = pair.indexOf('=');
      const name = (eq === -1 ? pair : pair.slice(0, eq)).trim();
      if (name.length > 0) names.push(name);
    }
  }
  return names;
}

function setCookieNamesOf(values: readonly string[] | undefined): string[] {
  // MS-OXCMAPIHTTP 2.2.3.2 (Set-Cookie): one `name=opaque` per Set-Cookie line, attributes after ';'.
  const names: string[] = [];
  for (const value of values ?? []) {
    const name = value.split(';', 1)[0]!.split('=', 1)[0]!.trim();
    if (name.length > 0) names.push(name);
  }
  return names;
}

function versionOf(header: string, value: string | undefined, problems: string[]): VersionResult | undefined {
  if (value === undefined) return undefined;
  const result = parseVersion(value);
  if (!result.ok) problems.push(`${header} ${quote(value)} ${result.problem}`);
  return result;
}

function checkGuidCounter(header: string, section: string, value: string | undefined, problems: string[]): void {
  // Exchange accepted a non-GUID X-ClientInfo in exploit traffic (docs/protocols.md §4.2): a problem, not a refusal.
  // Tested, not parsed: no result object for two headers of every request.
  if (value !== undefined && !GUID_COUNTER.test(value.trim())) {
    problems.push(`${header} ${quote(value)} is not GUID:counter (MS-OXCMAPIHTTP ${section})`);
  }
}

function nonNegativeInteger(header: string, value: string | undefined, problems: string[]): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\s*\d{1,15}\s*$/.test(value)) {
    problems.push(`${header} ${quote(value)} is not a number of milliseconds`);
    return undefined;
  }
  return Number(value);
}

export interface MapiRequestFacts {
  endpoint: MapiEndpoint;
  requestType?: string;
  requestId?: string;
  clientInfo?: string;
  deviceInfo?: string;
  /** The raw X-ClientApplication value. */
  clientApplication?: string;
  /** X-ClientApplication parsed; a failure keeps its problem. */
  clientVersion?: VersionResult;
  /** From `?MailboxId=` (percent-decoded). */
  mailboxId?: string;
  /** Names of the cookies the client returned, in wire order; never their values. */
  cookieNames: string[];
  problems: string[];
}

// Every header either observer reads, so each head is scanned once (one pass per exchange side).
const REQUEST_HEADERS = new HeaderSet([
  'X-RequestType', 'X-RequestId', 'X-ClientInfo', 'X-DeviceInfo', 'X-ClientApplication',
  'Content-Type', 'Cookie', 'Host', 'Content-Length', 'Transfer-Encoding',
]);
const RESPONSE_HEADERS = new HeaderSet([
  'X-ServerApplication', 'X-RequestType', 'X-RequestId', 'X-ClientInfo', 'Content-Type',
  'X-PendingPeriod', 'X-ExpirationInfo', 'X-ResponseCode', 'Set-Cookie',
]);

/**
 * The facts of a MAPI/HTTP request head (MS-OXCMAPIHTTP 2.2.2.1, 2.2.3). `endpoint`, when the
 * caller has it from mapiClaim, saves splitting the path again.
 */
export function observeMapiRequest(path: string, rawHeaders: RawHeaders, endpoint: MapiEndpoint = mapiEndpoint(path)): MapiRequestFacts {
  const problems: string[] = [];
  const picked = REQUEST_HEADERS.pick(rawHeaders);
  const facts: MapiRequestFacts = { endpoint, cookieNames: cookieNamesOf(picked.get('Cookie')), problems };

  const requestType = single(picked, 'X-RequestType', problems);
  const requestId = single(picked, 'X-RequestId', problems);
  const clientInfo = single(picked, 'X-ClientInfo', problems);
  const deviceInfo = single(picked, 'X-DeviceInfo', problems);
  const clientApplication = single(picked, 'X-ClientApplication', problems);
  const contentType = single(picked, 'Content-Type', problems);
  if (requestType !== undefined) facts.requestType = requestType;
  if (requestId !== undefined) facts.requestId = requestId;
  if (clientInfo !== undefined) facts.clientInfo = clientInfo;
  if (deviceInfo !== undefined) facts.deviceInfo = deviceInfo;
  if (clientApplication !== undefined) facts.clientApplication = clientApplication;
  const clientVersion = versionOf('X-ClientApplication', clientApplication, problems);
  if (clientVersion !== undefined) facts.clientVersion = clientVersion;

  const { query } = splitTarget(path);
  const mailboxId = queryParam(query, 'MailboxId', problems);
  if (mailboxId !== undefined) facts.mailboxId = mailboxId;

  // MS-OXCMAPIHTTP 2.2.2.1: Host, X-RequestType, X-RequestId, Content-Type and Content-Length on every request.
  if (!picked.has('Host')) problems.push('Host missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)');
  if (requestType === undefined) problems.push('X-RequestType missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)');
  if (requestId === undefined) problems.push('X-RequestId missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)');
  if (contentType === undefined) problems.push('Content-Type missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)');
  else if (mediaType(contentType) !== 'application/mapi-http') {
    problems.push(`Content-Type ${quote(contentType)} is not application/mapi-http (MS-OXCMAPIHTTP 2.2.3.2.2)`);
  }
  if (!picked.has('Content-Length') && !picked.has('Transfer-Encoding')) {
    problems.push('Content-Length missing (MS-OXCMAPIHTTP 2.2.2.1 wants it on every request)');
  }
  // MS-OXCMAPIHTTP 2.2.3.3.6 / 2.2.3.3.4: the client sends both "on every request".
  if (clientApplication === undefined) problems.push('X-ClientApplication missing (MS-OXCMAPIHTTP 2.2.3.3.6 wants it on every request)');
  if (clientInfo === undefined) problems.push('X-ClientInfo missing (MS-OXCMAPIHTTP 2.2.3.3.4 wants it on every request)');

  if (requestType !== undefined && endpoint !== 'other' && canonicalRequestType(requestType, endpoint) === undefined) {
    problems.push(`X-RequestType ${quote(requestType)} is not a request type of /mapi/${endpoint}/ (MS-OXCMAPIHTTP 2.2.3.3.1)`);
  }
  checkGuidCounter('X-RequestId', '2.2.3.3.2', requestId, problems);
  checkGuidCounter('X-ClientInfo', '2.2.3.3.4', clientInfo, problems);
  // MS-OXCMAPIHTTP 2.2.3.3.11: only intermediaries add X-DeviceInfo, at most 64 characters.
  if (deviceInfo !== undefined && deviceInfo.length > 64) {
    problems.push(`X-DeviceInfo is ${deviceInfo.length} characters, over the 64 allowed (MS-OXCMAPIHTTP 2.2.3.3.11)`);
  }
  if (endpoint !== 'other' && mailboxId === undefined) {
    problems.push('no MailboxId in the query (Autodiscover-provided endpoints carry one, MS-OXDSCLI 4.4)');
  }
  return facts;
}

export interface MapiResponseFacts {
  serverApplication?: string;
  serverVersion?: VersionResult;
  requestType?: string;
  requestId?: string;
  clientInfo?: string;
  /** The outer X-ResponseCode, named by the spec table; when repeated, the last value counts. */
  responseCode?: ResponseCode;
  pendingPeriod?: number;
  expirationInfo?: number;
  contentType?: string;
  /** Names of the cookies the server set, in wire order; never their values. */
  setCookieNames: string[];
  problems: string[];
}

/** The facts of a MAPI/HTTP response head (MS-OXCMAPIHTTP 2.2.2.2, 2.2.3). */
export function observeMapiResponse(statusCode: number, rawHeaders: RawHeaders): MapiResponseFacts {
  const problems: string[] = [];
  const picked = RESPONSE_HEADERS.pick(rawHeaders);
  const facts: MapiResponseFacts = { setCookieNames: setCookieNamesOf(picked.get('Set-Cookie')), problems };

  const serverApplication = single(picked, 'X-ServerApplication', problems);
  const requestType = single(picked, 'X-RequestType', problems);
  const requestId = single(picked, 'X-RequestId', problems);
  const clientInfo = single(picked, 'X-ClientInfo', problems);
  const contentType = single(picked, 'Content-Type', problems);
  if (serverApplication !== undefined) facts.serverApplication = serverApplication;
  const serverVersion = versionOf('X-ServerApplication', serverApplication, problems);
  if (serverVersion !== undefined) facts.serverVersion = serverVersion;
  if (requestType !== undefined) facts.requestType = requestType;
  if (requestId !== undefined) facts.requestId = requestId;
  if (clientInfo !== undefined) facts.clientInfo = clientInfo;
  if (contentType !== undefined) facts.contentType = contentType;
  const pendingPeriod = nonNegativeInteger('X-PendingPeriod', single(picked, 'X-PendingPeriod', problems), problems);
  if (pendingPeriod !== undefined) facts.pendingPeriod = pendingPeriod;
  const expirationInfo = nonNegativeInteger('X-ExpirationInfo', single(picked, 'X-ExpirationInfo', problems), problems);
  if (expirationInfo !== undefined) facts.expirationInfo = expirationInfo;

  const codeValues = picked.get('X-ResponseCode') ?? [];
  const parsed = parseResponseCodeValues(codeValues);
  if (parsed !== undefined && !parsed.ok) problems.push(parsed.problem);
  if (parsed?.ok === true) {
    facts.responseCode = parsed.code;
    // docs/protocols.md §1.7: Microsoft's test harness takes the last of duplicated values; so do we.
    if (parsed.repeated) problems.push(`X-ResponseCode repeated (${codeValues.map((v) => quote(v)).join(', ')}); the last value counts`);
  }

  // MS-OXCMAPIHTTP 2.2.3.3.7: "on every response", including errors and 401s (docs/protocols.md §3 rule 4).
  if (serverApplication === undefined) problems.push('X-ServerApplication missing (MS-OXCMAPIHTTP 2.2.3.3.7 wants it on every response)');

  // MS-OXCMAPIHTTP 2.2.2.2: only 200 carries a MAPI/HTTP outcome; 401/302/5xx are HTTP's business
  // (Exchange Online's 401 has no X-ResponseCode, docs/protocols.md §4.4).
  if (statusCode === 200) {
    if (codeValues.length === 0) problems.push('X-ResponseCode missing on a 200 response (MS-OXCMAPIHTTP 2.2.2.2)');
    if (requestType === undefined) problems.push('X-RequestType not echoed (MS-OXCMAPIHTTP 2.2.3.3.1)');
    if (requestId === undefined) problems.push('X-RequestId not echoed (MS-OXCMAPIHTTP 2.2.3.3.2: the server MUST echo it)');
    if (clientInfo === undefined) problems.push('X-ClientInfo not echoed (MS-OXCMAPIHTTP 2.2.3.3.4: the server MUST echo it)');
    const code = facts.responseCode?.value;
    const media = mediaType(contentType);
    // MS-OXCMAPIHTTP 2.2.3.2.2: application/mapi-http with code 0, text/html with any other.
    if (code === 0 && media !== 'application/mapi-http') {
      problems.push(`Content-Type ${quote(contentType ?? '')} with X-ResponseCode 0; the spec wants application/mapi-http (MS-OXCMAPIHTTP 2.2.3.2.2)`);
    }
    if (code !== undefined && code !== 0 && media !== 'text/html') {
      problems.push(`Content-Type ${quote(contentType ?? '')} with X-ResponseCode ${code}; the spec wants text/html (MS-OXCMAPIHTTP 2.2.3.2.2)`);
    }
    // MS-OXCMAPIHTTP 2.2.3.3.8: on every response; only checked on successes, since error pages
    // (gromox's, docs/protocols.md §4.5) routinely omit it and nothing depends on it there.
    if (code === 0 && expirationInfo === undefined) problems.push('X-ExpirationInfo missing (MS-OXCMAPIHTTP 2.2.3.3.8)');
  }
  return facts;
}

/**
 * Problems with what the server echoed back (MS-OXCMAPIHTTP 2.2.3.3.1, 2.2.3.3.2, 2.2.3.3.4:
 * X-RequestType, X-RequestId and X-ClientInfo are returned unchanged). Only values both
 * sides stated are compared; missing ones are already problems of their own message.
 */
export function echoProblems(request: MapiRequestFacts, response: MapiResponseFacts): string[] {
  const problems: string[] = [];
  const compare = (name: string, sent: string | undefined, echoed: string | undefined, same: (a: string, b: string) => boolean): void => {
    if (sent !== undefined && echoed !== undefined && !same(sent, echoed)) {
      problems.push(`${name} echoed as ${quote(echoed)} but the request sent ${quote(sent)}`);
    }
  };
  compare('X-RequestType', request.requestType, response.requestType, (a, b) => a.trim().toLowerCase() === b.trim().toLowerCase());
  compare('X-RequestId', request.requestId, response.requestId, (a, b) => a === b);
  compare('X-ClientInfo', request.clientInfo, response.clientInfo, (a, b) => a === b);
  return problems;
}

/**
 * The outcome of an exchange: the X-ResponseCode after DONE when the inner stream had one,
 * else the outer header's. `late` marks a failure the outer header did not announce (outer 0,
 * inner non-zero: MS-OXCMAPIHTTP 2.2.7, docs/protocols.md §1.8).
 */
export function effectiveResponseCode(
  response: Pick<MapiResponseFacts, 'responseCode'>,
  stream: { responseCode?: ResponseCode } | undefined,
): { code?: ResponseCode; late: boolean } {
  const inner = stream?.responseCode;
  const outer = response.responseCode;
  const code = inner ?? outer;
  const late = outer?.value === 0 && inner !== undefined && inner.value !== 0;
  return code === undefined ? { late } : { code, late };
}

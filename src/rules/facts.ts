/**
 * The facts rules match on, read from the heads and, for FPSE, from the first line of the
 * request body and the response packet. Matchers must see what the client sent and what the
 * upstream answered, so these are filled from the original bytes, before any action runs.
 * The protocol parsers do the reading (STYLE.md habit 8); this file only picks their results.
 */
import type { RawHeaders } from '../core/raw-headers.js';
import { getHeader } from '../core/raw-headers.js';
import { parseVersion, type Version, type VersionResult } from '../core/version.js';
import { claimsFpse, type FpseEndpoint } from '../protocols/fpse.js';
import { parseFpsePacket } from '../protocols/fpse-packet.js';
import { decodeFpseFirstLine } from '../protocols/fpse-request.js';
import { parseVtiInf } from '../protocols/fpse-vti-inf.js';
import { canonicalRequestType, claimsMapiHttp } from '../protocols/mapihttp.js';
import type { MatchFacts } from './rule.js';

export interface RequestHeadInput {
  method: string;
  host: string;
  /** Origin-form path with query. */
  path: string;
  client: string;
  rawHeaders: RawHeaders;
}

/** Facts of an exchange under rules: the facts plus which FPSE endpoint, if any, it addresses. */
export interface RuleFacts extends MatchFacts {
  readonly fpseEndpoint?: FpseEndpoint;
  /** MAPI/HTTP: the X-ServerApplication this host last sent, for refusals made in its place. */
  knownServer?: string;
}

export function requestFacts(head: RequestHeadInput): RuleFacts {
  // One object of one shape for every exchange (this runs per request whenever rules are
  // loaded): the protocol fields are filled in below rather than spread in.
  const facts: { -readonly [K in keyof RuleFacts]: RuleFacts[K] } = {
    method: head.method,
    host: head.host.toLowerCase(),
    path: head.path,
    client: unmapped(head.client),
    requestHeaders: head.rawHeaders,
    protocol: 'http',
    requestType: null,
    fpseMethod: null,
    clientVersion: null,
  };
  if (claimsMapiHttp(head.method, head.path, head.rawHeaders)) {
    const type = getHeader(head.rawHeaders, 'X-RequestType');
    facts.protocol = 'mapihttp';
    facts.requestType = type === undefined ? null : (canonicalRequestType(type) ?? type);
    facts.clientVersion = versionOrNull(getHeader(head.rawHeaders, 'X-ClientApplication'));
    return facts;
  }
  const endpoint = head.method === 'GET' || head.method === 'POST' ? claimsFpse(head.method, head.path) : undefined;
  if (endpoint !== undefined) {
    facts.protocol = 'fpse';
    facts.fpseEndpoint = endpoint;
    // RPC POSTs carry method and version in the body's first line (MS-FPSE 2.2.2): unknown
    // until it is read. The _vti_inf.html GET carries neither.
    if (endpoint !== 'vti-inf') facts.fpseMethod = facts.clientVersion = undefined;
  }
  return facts;
}

/** True while request facts still wait for the body's first line. */
export function awaitsRequestBody(facts: RuleFacts): boolean {
  return facts.fpseMethod === undefined || facts.clientVersion === undefined;
}

/** FPSE: method and client version from the first line of the form body (without its LF). */
export function addFirstLine(facts: RuleFacts, line: Buffer | undefined): void {
  if (line === undefined) {
    facts.fpseMethod ??= null;
    facts.clientVersion ??= null;
    return;
  }
  const decoded = decodeFpseFirstLine(line);
  facts.fpseMethod = decoded.method ?? null;
  facts.clientVersion = okVersion(decoded.clientVersion);
}

/** MAPI/HTTP: the server version is a header; FPSE: it is in the body, so it stays unknown here. */
export function addResponseHead(facts: RuleFacts, status: number, rawHeaders: RawHeaders): void {
  facts.status = status;
  facts.responseHeaders = rawHeaders;
  if (facts.protocol === 'mapihttp') facts.serverVersion = versionOrNull(getHeader(rawHeaders, 'X-ServerApplication'));
  else if (facts.protocol === 'http') facts.serverVersion = null;
}

/** FPSE: the server's build from the packet's `server version=` list, or from FPVersion. */
export function addResponseBody(facts: RuleFacts, body: Buffer | undefined): void {
  if (facts.protocol !== 'fpse') {
    facts.serverVersion ??= null;
    return;
  }
  // Not collected (over the cap): the server version stays unknown, so the rules that needed it
  // are recorded as skipped rather than as not matching.
  if (body === undefined) return;
  if (facts.fpseEndpoint === 'vti-inf') {
    facts.serverVersion = okVersion(parseVtiInf(body).fpVersion);
    return;
  }
  facts.serverVersion = okVersion(parseFpsePacket(body).serverVersion?.version);
}

function okVersion(result: VersionResult | undefined): Version | null {
  return result?.ok === true ? result.version : null;
}

function versionOrNull(text: string | undefined): Version | null {
  return text === undefined ? null : okVersion(parseVersion(text));
}

/** `::ffff:10.0.0.1` is the IPv4 client 10.0.0.1 on a dual-stack socket. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

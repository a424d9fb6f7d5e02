/**
 * FrontPage Server Extensions RPC: which requests are FPSE, and what their HTTP heads say about
 * versions. Pure: no I/O, never throws. Bodies are read by fpse-request.ts (request first line),
 * fpse-packet.ts (response "vermeer RPC packet") and fpse-vti-inf.ts (discovery page).
 */
import { quote } from '../core/quote.js';
import { getHeader, getHeaderValues } from '../core/raw-headers.js';
import type { RawHeaders } from '../core/raw-headers.js';
import { parseVersion } from '../core/version.js';
import type { VersionResult } from '../core/version.js';

/**
 * The FPSE entry points (docs/protocols.md §2.1, FP2000 SERK roles): `vti-inf` discovery page,
 * `rpc` browse-time shtml, `author` authoring, `admin` administration, `owssvr` TPScriptUrl.
 */
export type FpseEndpoint = 'vti-inf' | 'rpc' | 'author' | 'admin' | 'owssvr';

/**
 * Claims a request for FPSE by method and path. Script URLs are relative to the web root, so a
 * subweb puts any prefix before `_vti_bin` (§2.1); Unix FPSE 2002 uses `.exe` and mixed case
 * (`Author.exe`, `Owssvr.exe`, KB 828909), hence the case-insensitive match on whole segments.
 * `path` may be origin-form (`/a/_vti_bin/…?x`) or absolute-form (`http://h/a/_vti_bin/…`).
 */
export function claimsFpse(method: string, path: string): FpseEndpoint | undefined {
  const verb = method.length === 3 || method.length === 4 ? method.toUpperCase() : method;
  if (verb !== 'GET' && verb !== 'POST') return undefined;
  // Every script URL names `_vti_…` or `owssvr`; a path without either (and without
  // percent-escapes that could spell them) is not FPSE. This spares most requests the split.
  if (!MAYBE_FPSE.test(path)) return undefined;
  const segments = pathSegments(path);
  const last = segments[segments.length - 1];
  const before = segments[segments.length - 2];
  // MS-FPSE 3.1.3.2.1: the client GETs _vti_inf.html first to learn the script URLs.
  if (verb === 'GET') return last === '_vti_inf.html' ? 'vti-inf' : undefined;
  // §2.2: every RPC method is a POST to one of the script URLs.
  if (last === undefined) return undefined;
  if (last === '_vti_rpc' && (before === 'shtml.dll' || before === 'shtml.exe')) return 'rpc';
  if (before === '_vti_aut' && (last === 'author.dll' || last === 'author.exe')) return 'author';
  if (before === '_vti_adm' && (last === 'admin.dll' || last === 'admin.exe')) return 'admin';
  if (last === 'owssvr.dll' || last === 'owssvr.exe') return 'owssvr';
  return undefined;
}

const MAYBE_FPSE = /vti|owssvr|%/i;

/** Lower-cased, percent-decoded path segments without query, fragment or empty trailing segment. */
function pathSegments(path: string): string[] {
  let p = path;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(p);
  if (scheme) p = p.slice(scheme[0].length);
  const end = p.search(/[?#]/);
  if (end >= 0) p = p.slice(0, end);
  const segments = p.split('/').filter((s) => s !== '').map((s) => safeDecode(s).toLowerCase());
  return segments;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** What the head of an FPSE request or response says; only headers that are present appear. */
export interface FpseHeaderFacts {
  /** `MicrosoftSharePointTeamServices` (response), e.g. '14.0.0.6029' (§2.7: not a reliable build). */
  sharePointTeamServices?: string;
  sharePointVersion?: VersionResult;
  /** `MS-Author-Via` (OPTIONS responses), e.g. 'MS-FP/4.0,DAV' (§2.7). */
  msAuthorVia?: string;
  /** `MicrosoftOfficeWebServer`, e.g. '5.0_Collab' (§2.7). */
  officeWebServer?: string;
  /** The FrontPage token of `Server` on old Apache servers, e.g. 'FrontPage/3.0.2' (§2.7). */
  serverFrontPage?: string;
  contentType?: string;
  /** `X-Vermeer-Content-Type` (request), which MS-FPSE 3.1.5.1 wants equal to Content-Type. */
  vermeerContentType?: string;
  /** The FrontPage token of `User-Agent`, e.g. 'MSFrontPage/12.0' or 'MS FrontPage 3.0' (§2.2). */
  frontPageUserAgent?: string;
  problems: string[];
}

// §2.2: the two form types clients use for the RPC body.
const FORM_TYPES = ['application/x-www-form-urlencoded', 'application/x-vermeer-urlencoded'];
/** MS-FPSE 3.1.5.1: RPC responses are `application/x-vermeer-rpc` (except `get documents`). */
export const VERMEER_RPC_TYPE = 'application/x-vermeer-rpc';

/** True for a Content-Type whose media type is `application/x-vermeer-rpc` (parameters ignored). */
export function isVermeerRpcType(contentType: string | undefined): boolean {
  return mediaType(contentType) === VERMEER_RPC_TYPE;
}

/**
 * Request head facts. `endpoint` (from claimsFpse) enables the checks that only apply to RPC
 * POSTs: the discovery GET has no body and may come from a browser.
 */
export function observeFpseRequestHeaders(rawHeaders: RawHeaders, endpoint?: FpseEndpoint): FpseHeaderFacts {
  const facts: FpseHeaderFacts = { problems: [] };
  const rpc = endpoint !== undefined && endpoint !== 'vti-inf';
  const agent = getHeader(rawHeaders, 'user-agent');
  if (agent !== undefined) {
    const token = frontPageToken(agent);
    if (token !== undefined) facts.frontPageUserAgent = token;
  }
  // MS-FPSE 3.1.5.1: the User-Agent MUST contain the case-sensitive string "FrontPage".
  if (rpc && facts.frontPageUserAgent === undefined) {
    facts.problems.push(
      agent === undefined
        ? 'no User-Agent; MS-FPSE 3.1.5.1 requires one containing "FrontPage"'
        : `User-Agent ${quote(agent)} lacks the case-sensitive "FrontPage" MS-FPSE 3.1.5.1 requires`,
    );
  }
  const contentType = getHeader(rawHeaders, 'content-type');
  if (contentType !== undefined) facts.contentType = contentType;
  const vermeer = getHeader(rawHeaders, 'x-vermeer-content-type');
  if (vermeer !== undefined) facts.vermeerContentType = vermeer;
  if (rpc) facts.problems.push(...contentTypeProblems(contentType, vermeer));
  return facts;
}

function contentTypeProblems(contentType: string | undefined, vermeer: string | undefined): string[] {
  const problems: string[] = [];
  const type = mediaType(contentType);
  if (type === undefined) problems.push('no Content-Type; FPSE bodies are form-urlencoded (§2.2)');
  else if (!FORM_TYPES.includes(type)) problems.push(`Content-Type ${quote(contentType!)} is not ${FORM_TYPES.join(' or ')} (§2.2)`);
  // MS-FPSE 3.1.5.1: the client SHOULD send it (anti one-click); the server SHOULD fail without it.
  if (vermeer === undefined) problems.push('no X-Vermeer-Content-Type; MS-FPSE 3.1.5.1 servers should fail the request');
  else if (type !== undefined && mediaType(vermeer) !== type) {
    problems.push(`X-Vermeer-Content-Type ${quote(vermeer)} differs from Content-Type ${quote(contentType!)} (MS-FPSE 3.1.5.1: the server uses X-Vermeer-Content-Type)`);
  }
  return problems;
}

/** Response head facts (§2.7). Content-Type is reported, not judged: `get documents` and HTTP errors differ legitimately. */
export function observeFpseResponseHeaders(rawHeaders: RawHeaders): FpseHeaderFacts {
  const facts: FpseHeaderFacts = { problems: [] };
  const teamServices = getHeaderValues(rawHeaders, 'microsoftsharepointteamservices');
  const first = teamServices[0];
  if (first !== undefined) {
    facts.sharePointTeamServices = first;
    facts.sharePointVersion = parseVersion(first);
    if (!facts.sharePointVersion.ok) {
      facts.problems.push(`MicrosoftSharePointTeamServices ${quote(first)} ${facts.sharePointVersion.problem}`);
    }
    if (teamServices.some((v) => v !== first)) {
      facts.problems.push(`MicrosoftSharePointTeamServices sent ${teamServices.length} times with different values: ${teamServices.map((v) => quote(v)).join(', ')}`);
    }
  }
  const via = getHeader(rawHeaders, 'ms-author-via');
  if (via !== undefined) facts.msAuthorVia = via;
  const office = getHeader(rawHeaders, 'microsoftofficewebserver');
  if (office !== undefined) facts.officeWebServer = office;
  const server = getHeader(rawHeaders, 'server');
  const serverToken = server === undefined ? undefined : /FrontPage\/[0-9][0-9A-Za-z.]*/.exec(server)?.[0];
  if (serverToken !== undefined) facts.serverFrontPage = serverToken;
  const contentType = getHeader(rawHeaders, 'content-type');
  if (contentType !== undefined) facts.contentType = contentType;
  return facts;
}

/**
 * `MSFrontPage/12.0`, or FrontPage 98's `MS FrontPage 3.0` inside a Mozilla comment (§2.2).
 * Case-sensitive on purpose: MS-FPSE 3.1.5.1 says "FrontPage" is matched case-sensitively.
 */
function frontPageToken(agent: string): string | undefined {
  const match = /(?:MS ?)?FrontPage(?:[/ ][0-9][0-9A-Za-z.]*)?/.exec(agent);
  return match?.[0];
}

function mediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === '' ? undefined : type;
}

/**
 * What the `reject` action answers, in the protocol of the exchange (docs/rules.md "Actions"):
 *   FPSE       HTTP 200 + an error packet with a status list (docs/protocols.md §2.5, §4.11)
 *   MAPI/HTTP  HTTP 200 + X-ResponseCode + a text/html diagnostic page (§1.4, §1.7, §4.5)
 *   HTTP       the status with a short text/plain body
 * Pure: builds the answer from the rule's argument and the request's facts; the caller writes it.
 */
import { STATUS_CODES } from 'node:http';
import { getHeader } from '../core/raw-headers.js';
import { minVersion, parseVersion, versionString, type Version } from '../core/version.js';
import { formatErrorPacket, OLDEST_COMPATIBLE_CLIENT, V_RPC_CLIENT_TOO_OLD, VERMEER_RPC_CONTENT_TYPE } from '../protocols/fpse-format.js';
import { FPSE_STATUS_CODES, fpseStatusHex } from '../protocols/fpse-packet.js';
import { responseCode, responseCodeByName, type ResponseCode } from '../protocols/mapihttp-codes.js';
import { formatErrorPage } from '../protocols/mapihttp-format.js';

export interface RuleAnswer {
  status: number;
  statusMessage: string;
  /** Flat raw list [name, value, name, value…], in the order written. */
  rawHeaders: string[];
  body: Buffer;
  /** one line for the record, e.g. 'FPSE status 262156 (0x0004000C, client too old)' */
  summary: string;
}

// ---- FPSE ----

/**
 * `client-too-old`, decimal or `0x…` hex, as the rule loader accepted it, to the number written in
 * the packet. Codes are 32-bit: those with the top bit set come back negative, the way Alfresco
 * (a Java int) writes them and HubKey (a C# int) reads them (§2.5).
 */
export function parseFpseRejectStatus(arg: string | number): number {
  if (typeof arg === 'number') return arg | 0;
  const text = arg.trim();
  if (text === 'client-too-old') return V_RPC_CLIENT_TOO_OLD;
  return (/^0x/i.test(text) ? parseInt(text.slice(2), 16) : Number(text)) | 0;
}

export interface FpseRejectRequest {
  /** Method name from the request's method value; null or absent when it had none. */
  method?: string | null;
  /** The client's version from the method value, as written. */
  methodVersion?: string;
  /** The server's build, when the conversation learned it. */
  serverVersion?: string;
}

/** HTTP 200 with the error packet of §2.5: FPSE RPC errors are not HTTP errors (Alfresco, HubKey). */
export function fpseRejectAnswer(status: number, req: FpseRejectRequest): RuleAnswer {
  const code = status | 0;
  const client = readable(req.methodVersion);
  // Control characters from a decoded method name would break the packet's lines.
  const method = (req.method ?? '').replace(/\p{Cc}/gu, ' ');
  const version = method === '' ? undefined : methodLineVersion(client, readable(req.serverVersion));
  const body = Buffer.from(formatErrorPacket({ method, ...(version === undefined ? {} : { version }), status: code, msg: fpseMessage(code, client) }), 'utf8');
  return {
    status: 200,
    statusMessage: 'OK',
    rawHeaders: ['Content-Type', VERMEER_RPC_CONTENT_TYPE, 'Content-Length', String(body.length)],
    body,
    summary: `FPSE status ${code} (${[fpseStatusHex(code), fpseShortMeaning(code)].filter(Boolean).join(', ')})`,
  };
}

/**
 * §2.8: every response's method line carries the effective protocol version, Min(client, server)
 * (MS-FPSE 1.7.1); the SDK error format of §2.5 writes the server's. With both known they agree
 * on Min; with one, that one; with neither, the line has no version (§4.11 leaves it open).
 */
function methodLineVersion(client: Version | undefined, server: Version | undefined): string | undefined {
  if (client !== undefined && server !== undefined) return versionString(minVersion(client, server));
  const known = server ?? client;
  return known === undefined ? undefined : versionString(known);
}

/** The text real servers send is UNCONFIRMED (§2.5); these say what happened and, for 0x0004000C, the floor. */
function fpseMessage(code: number, client: Version | undefined): string {
  if (code === V_RPC_CLIENT_TOO_OLD) {
    const who = client === undefined ? 'The client' : `The client version ${versionString(client)}`;
    return `${who} is too old for this server; version ${OLDEST_COMPATIBLE_CLIENT} or later is required.`;
  }
  const meaning = FPSE_STATUS_CODES.get(code >>> 0)?.meaning;
  if (meaning === undefined) return `The request was refused with status ${code} (${fpseStatusHex(code)}).`;
  return `${meaning[0]!.toUpperCase()}${meaning.slice(1)}.`;
}

function fpseShortMeaning(code: number): string | undefined {
  return code === V_RPC_CLIENT_TOO_OLD ? 'client too old' : FPSE_STATUS_CODES.get(code >>> 0)?.meaning;
}

function readable(text: string | undefined): Version | undefined {
  if (text === undefined) return undefined;
  const parsed = parseVersion(text);
  return parsed.ok ? parsed.version : undefined;
}

// ---- MAPI/HTTP ----

export interface MapiRejectRequest {
  requestHeaders: string[];
  /** X-ServerApplication to answer with: the server's, when the session has seen it. */
  serverApplication?: string;
}

/** Exchange 2019 CU14, as seen on-premises (§1.4 [S13]); used when the session has not seen the server's. */
export const DEFAULT_SERVER_APPLICATION = 'Exchange/15.02.1544.014';

/** MS-OXCMAPIHTTP 2.2.3.3.8 asks for X-ExpirationInfo on every response; gromox's 15 minutes (§1.8). */
const EXPIRATION_MS = '900000';

/**
 * MS-OXCMAPIHTTP 2.2.2.2 (§1.7): a non-exceptional failure is HTTP 200 with the outcome in
 * X-ResponseCode and a text/html diagnostic body (2.2.3.2.2). §1.4 adds what every response
 * carries: X-ServerApplication, X-ExpirationInfo, and the echoes of X-RequestType, X-RequestId
 * and X-ClientInfo, unchanged (the server MUST echo them). Header order follows §1.8 and §4.5.
 */
export function mapiRejectAnswer(arg: string | number, req: MapiRejectRequest): RuleAnswer {
  const code = mapiCode(arg);
  const body = formatErrorPage(MAPI_MESSAGES[code.value] ?? `The request failed: ${code.name} (X-ResponseCode ${code.value}).`);
  const echo = (name: string): string[] => {
    const value = getHeader(req.requestHeaders, name);
    return value === undefined ? [] : [name, value];
  };
  const rawHeaders = [
    // §4.5 (gromox): error pages are not cached.
    'Cache-Control', 'private',
    'Content-Type', 'text/html',
    ...echo('X-RequestType'),
    'X-ResponseCode', String(code.value),
    ...echo('X-RequestId'),
    ...echo('X-ClientInfo'),
    'X-ServerApplication', req.serverApplication ?? DEFAULT_SERVER_APPLICATION,
    'X-ExpirationInfo', EXPIRATION_MS,
    'Content-Length', String(body.length),
  ];
  return { status: 200, statusMessage: 'OK', rawHeaders, body, summary: `MAPI/HTTP X-ResponseCode ${code.value} (${code.name})` };
}

/** The rule loader accepts only rows of the table other than Success; anything else is a program error. */
function mapiCode(arg: string | number): ResponseCode {
  const code = typeof arg === 'number' ? responseCode(arg) : responseCodeByName(arg);
  if (code === undefined || code.value === 0) throw new RangeError(`reject ${JSON.stringify(arg)} is not a failure X-ResponseCode (MS-OXCMAPIHTTP 2.2.3.3.3); rules are validated before they run`);
  return code;
}

/** Diagnostic page sentences; the text is not specified, 10 is gromox's own (§4.5). */
const MAPI_MESSAGES: Readonly<Record<number, string>> = Object.freeze({
  1: 'The request failed for an unknown reason.',
  2: 'The HTTP verb is not supported; MAPI/HTTP requests are POSTs.',
  3: 'The path is not a MAPI/HTTP endpoint.',
  4: 'A request header is not valid.',
  5: 'The X-RequestType is not valid for this endpoint.',
  6: 'The context cookie is not valid.',
  7: 'A required request header is missing.',
  8: 'Anonymous requests are not allowed.',
  9: 'The request is too large.',
  10: 'The Session Context is not found.',
  11: 'The user has no privilege for this request.',
  12: 'The request body is not valid.',
  13: 'The context cookie is missing.',
  14: 'The request failed (reserved response code).',
  15: 'Another request is already running in this Session Context.',
  16: 'The endpoint is disabled.',
  17: 'The response is not valid.',
  18: 'The endpoint is shutting down.',
});

// ---- plain HTTP ----

/** RFC 9110 15: 1xx, 204 and 304 have no body, so no Content-Length either. */
export function httpRejectAnswer(status: number): RuleAnswer {
  const statusMessage = STATUS_CODES[status] ?? 'Unknown';
  const bodyless = status < 200 || status === 204 || status === 304;
  const body = bodyless ? Buffer.alloc(0) : Buffer.from(`${status} ${statusMessage}\n`, 'utf8');
  const rawHeaders = bodyless ? [] : ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length)];
  return { status, statusMessage, rawHeaders, body, summary: `HTTP ${status} ${statusMessage}` };
}

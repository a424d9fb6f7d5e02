/**
 * An Outlook MAPI/HTTP conversation (MS-OXCMAPIHTTP; docs/protocols.md §1):
 *   emsmdb  Connect → Execute → NotificationWait (optional long poll) → PING → Disconnect
 *   nspi    Bind → GetMailboxUrl → Unbind
 * with the headers real Outlook sends (§1.3, §1.4): X-ClientApplication, X-RequestType,
 * X-RequestId `{GUID}:counter` (counter up on every request), X-ClientInfo `{GUID}:counter`
 * (counter new per Session Context), Content-Type application/mapi-http, the session cookies,
 * and an Outlook User-Agent. It reads the inner stream itself, as a client must (§1.8).
 */
import { randomUUID } from 'node:crypto';
import { parseVersion } from '../core/version.js';
import { BodyWriter, MAPI_HTTP_CONTENT_TYPE } from '../protocols/mapihttp-format.js';
import type { ClientRunOptions } from './fpse-client.js';
import { createHttpClient, headerValue, type HttpResponse } from './http-client.js';

export type { ClientRunOptions };

export interface MapiClientStep {
  requestType: string;
  endpoint: 'emsmdb' | 'nspi';
  status: number;
  /** The final X-ResponseCode: the additional one after DONE if any, else the outer header. */
  responseCode?: number;
  serverApplication?: string;
  /** PROCESSING / PENDING / DONE in order of arrival. */
  metaTags: string[];
  /** For each meta-tag, milliseconds after the request was sent when its last byte arrived. */
  metaTagTimes: number[];
  /** Additional headers after DONE, in order. */
  additionalHeaders: Array<[string, string]>;
  /** Length of the binary response body. */
  bodyLength: number;
}

export interface MapiClientReport {
  steps: MapiClientStep[];
  serverApplication?: string;
}

export interface MapiClientOptions extends ClientRunOptions {
  /** X-ClientApplication, e.g. 'Outlook/16.0.15928.20006'. */
  client: string;
  /** Include the NotificationWait long poll (default false: it holds for the server's wait time). */
  notificationWait?: boolean;
  /** Mailbox in the endpoint query, `MailboxId=<guid>@<domain>`; default a fresh GUID @example.com. */
  mailboxId?: string;
  /** Authorization header to send, e.g. 'Basic dXNlcjpwYXNz'. */
  authorization?: string;
  /** Told as each request is sent (a NotificationWait can then be announced before it waits). */
  onSend?(endpoint: 'emsmdb' | 'nspi', requestType: string): void;
  /** Told about each step as soon as its answer is complete (the CLI prints it). */
  onStep?(step: MapiClientStep): void;
}

/** The parsed inner stream of a MAPI/HTTP response (§1.8). */
export interface InnerStream {
  metaTags: Array<{ tag: string; end: number }>;
  headers: Array<[string, string]>;
  body: Buffer;
  /** DONE and the blank line after the additional headers were seen. */
  complete: boolean;
}

const TAGS = ['PROCESSING', 'PENDING', 'DONE'];

/**
 * The Microsoft test suite's reading (§1.8 [S9]) made tolerant of gromox's stream: meta-tags
 * case-insensitive, CRLF after a tag optional (gromox sends `PENDING` bare), PROCESSING may repeat;
 * after DONE, `Name: value` lines up to an empty line, then the body.
 */
export function parseInnerStream(data: Buffer): InnerStream {
  const metaTags: InnerStream['metaTags'] = [];
  const text = data.toString('latin1');
  let pos = 0;
  for (;;) {
    if (text.startsWith('\r\n', pos)) {
      pos += 2;
      continue;
    }
    const tag = TAGS.find((t) => text.slice(pos, pos + t.length).toUpperCase() === t);
    if (tag === undefined) return { metaTags, headers: [], body: data.subarray(pos), complete: false };
    pos += tag.length;
    if (text.startsWith('\r\n', pos)) pos += 2;
    metaTags.push({ tag, end: pos });
    if (tag === 'DONE') break;
  }
  const headers: Array<[string, string]> = [];
  for (;;) {
    const eol = text.indexOf('\r\n', pos);
    if (eol < 0) return { metaTags, headers, body: Buffer.alloc(0), complete: false };
    const line = text.slice(pos, eol);
    pos = eol + 2;
    if (line === '') return { metaTags, headers, body: data.subarray(pos), complete: true };
    const colon = line.indexOf(':');
    headers.push(colon < 0 ? [line, ''] : [line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
}

export async function runMapiClient(options: MapiClientOptions): Promise<MapiClientReport> {
  const log = options.logger.child({ simulator: 'mapi-client' });
  const http = createHttpClient(options.via === undefined ? {} : { via: options.via });
  const mailboxId = options.mailboxId ?? `${randomUUID()}@example.com`;
  const requestGuid = `{${randomUUID().toUpperCase()}}`;
  const clientGuid = `{${randomUUID().toUpperCase()}}`;
  let requestCounter = 0;
  let sessionCounter = 1 + Math.floor(Math.random() * 1000);
  const cookies: Record<'emsmdb' | 'nspi', Map<string, string>> = { emsmdb: new Map(), nspi: new Map() };
  const clientInfo: Record<'emsmdb' | 'nspi', string> = { emsmdb: '', nspi: '' };
  const report: MapiClientReport = { steps: [] };

  async function send(endpoint: 'emsmdb' | 'nspi', requestType: string, body: Buffer): Promise<MapiClientStep> {
    if (requestType === 'Connect' || requestType === 'Bind') {
      // SPEC 2.2.3.3.6: a new counter for each new Session Context; the GUID stays.
      sessionCounter += 1;
      clientInfo[endpoint] = `${clientGuid}:${sessionCounter}`;
      cookies[endpoint].clear();
    }
    requestCounter += 1;
    const jar = cookies[endpoint];
    const headers: Record<string, string> = {
      'Content-Type': MAPI_HTTP_CONTENT_TYPE,
      'X-RequestType': requestType,
      'X-ClientInfo': clientInfo[endpoint],
      'X-RequestId': `${requestGuid}:${requestCounter}`,
      'X-ClientApplication': options.client,
      'User-Agent': userAgentFor(options.client),
      Accept: '*/*',
    };
    if (jar.size > 0) headers.Cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    if (options.authorization !== undefined) headers.Authorization = options.authorization;
    options.onSend?.(endpoint, requestType);
    const res = await http.request(options.server, {
      method: 'POST',
      path: `/mapi/${endpoint}/?MailboxId=${mailboxId}`,
      headers,
      body,
    });
    storeCookies(jar, res);
    const step = readStep(endpoint, requestType, res);
    log.info({ endpoint, requestType, status: step.status, responseCode: step.responseCode, metaTags: step.metaTags }, 'mapi response');
    report.steps.push(step);
    report.serverApplication ??= step.serverApplication;
    options.onStep?.(step);
    return step;
  }

  try {
    const connect = await send('emsmdb', 'Connect', connectRequest());
    if (connect.status === 200 && connect.responseCode === 0) {
      await send('emsmdb', 'Execute', executeRequest());
      if (options.notificationWait === true) await send('emsmdb', 'NotificationWait', new BodyWriter().u32(0).noAux().toBuffer());
      await send('emsmdb', 'PING', Buffer.alloc(0));
      await send('emsmdb', 'Disconnect', new BodyWriter().noAux().toBuffer());
    }
    const bind = await send('nspi', 'Bind', bindRequest());
    if (bind.status === 200 && bind.responseCode === 0) {
      await send('nspi', 'GetMailboxUrl', new BodyWriter().u32(0).ascii(userDn()).noAux().toBuffer());
      await send('nspi', 'Unbind', new BodyWriter().u32(0).noAux().toBuffer());
    }
    return report;
  } finally {
    http.close();
  }
}

function readStep(endpoint: 'emsmdb' | 'nspi', requestType: string, res: HttpResponse): MapiClientStep {
  const serverApplication = headerValue(res.headers, 'x-serverapplication');
  const outerCode = lastCode(headerValue(res.headers, 'x-responsecode'));
  const isMapi = (headerValue(res.headers, 'content-type') ?? '').toLowerCase().startsWith(MAPI_HTTP_CONTENT_TYPE);
  const inner = isMapi ? parseInnerStream(res.body) : { metaTags: [], headers: [], body: res.body, complete: false };
  const additional = inner.headers.filter(([name]) => name.toLowerCase() === 'x-responsecode').map(([, value]) => value);
  const responseCode = additional.length > 0 ? lastCode(additional[additional.length - 1]) : outerCode;
  return {
    requestType,
    endpoint,
    status: res.status,
    ...(responseCode === undefined ? {} : { responseCode }),
    ...(serverApplication === undefined ? {} : { serverApplication }),
    metaTags: inner.metaTags.map((m) => m.tag),
    metaTagTimes: inner.metaTags.map((m) => arrivalOf(res, m.end)),
    additionalHeaders: inner.headers,
    bodyLength: inner.body.length,
  };
}

/** §1.7 [S9]: a possibly duplicated X-ResponseCode is split on ',' and the last value used. */
function lastCode(value: string | undefined): number | undefined {
  const last = value?.split(',').pop()?.trim();
  return last === undefined || !/^\d+$/.test(last) ? undefined : Number(last);
}

/** When the byte before `end` arrived, in ms after the request was sent. */
function arrivalOf(res: HttpResponse, end: number): number {
  let offset = 0;
  for (const chunk of res.chunks) {
    offset += chunk.data.length;
    if (offset >= end) return chunk.atMs;
  }
  return res.chunks[res.chunks.length - 1]?.atMs ?? 0;
}

function storeCookies(jar: Map<string, string>, res: HttpResponse): void {
  for (const line of res.headers['set-cookie'] ?? []) {
    const pair = line.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = /expires=[^;]*1970/i.test(line);
    if (value === '' || expired) jar.delete(name);
    else jar.set(name, value);
  }
}

/** Real Outlook: `Microsoft Office/16.0 (Windows NT 10.0; MAPI 16.0.15928; Pro)` (§1.4 [S10]). */
export function userAgentFor(client: string): string {
  const parsed = parseVersion(client);
  const [major = 16, minor = 0, build = 0] = parsed.ok ? parsed.version.parts : [];
  return `Microsoft Office/${major}.${minor} (Windows NT 10.0; MAPI ${major}.${minor}.${build}; Pro)`;
}

function userDn(): string {
  return '/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=simulated-user';
}

/** §1.6 / §4.2: UserDN | Flags | DefaultCodePage 1252 | LcidSort 0x409 | LcidString 0x409 | aux. */
function connectRequest(): Buffer {
  return new BodyWriter().ascii(userDn()).u32(0).u32(1252).u32(0x409).u32(0x409).noAux().toBuffer();
}

/**
 * §1.6: Flags | RopBufferSize | RopBuffer | MaxRopOut | aux. The ROP buffer is an RPC_HEADER_EXT
 * (Version 0, Flags Last, Size, SizeActual) around one RopRelease and a one-entry handle table.
 */
function executeRequest(): Buffer {
  const payload = new BodyWriter().bytes(Buffer.from([0x05, 0x00, 0x01, 0x00, 0x00])).u32(0xffffffff).toBuffer();
  const header = Buffer.alloc(8);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(0x0004, 2);
  header.writeUInt16LE(payload.length, 4);
  header.writeUInt16LE(payload.length, 6);
  const rops = Buffer.concat([header, payload]);
  return new BodyWriter().u32(0).u32(rops.length).bytes(rops).u32(0x10008).noAux().toBuffer();
}

/** NSPI Bind: Flags | HasState 1 | STAT (9 × u32: CodePage 1252, locales 0x409) | aux. */
function bindRequest(): Buffer {
  const w = new BodyWriter().u32(0).u8(1);
  for (const value of [0, 0, 0, 0, 0, 0, 1252, 0x409, 0x409]) w.u32(value);
  return w.noAux().toBuffer();
}

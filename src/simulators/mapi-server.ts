/**
 * An Exchange MAPI/HTTP server (MS-OXCMAPIHTTP; docs/protocols.md §1) for demos and tests.
 *   POST /mapi/emsmdb/?MailboxId=…   Connect, Execute, NotificationWait, Disconnect, PING
 *   POST /mapi/nspi/?MailboxId=…     Bind, Unbind, GetMailboxUrl, GetAddressBookUrl, PING
 * Every response is HTTP 200 with the outcome in X-ResponseCode (SPEC 2.2.2.2, §1.7) except the
 * optional 401, and every one carries X-ServerApplication (§3 MAPI/HTTP 4). Success responses
 * are chunked, one meta-tag per chunk with Nagle off (§1.8, spec example 4.2).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Logger } from 'pino';
import {
  MAPI_HTTP_CONTENT_TYPE,
  formatBindResponse,
  formatConnectResponse,
  formatDone,
  formatErrorPage,
  formatExecuteResponse,
  formatMetaTag,
  formatNotificationWaitResponse,
  formatStatusResponse,
  formatUrlResponse,
} from '../protocols/mapihttp-format.js';
import { listenOn, originForm, type RunningServer } from './fpse-server.js';

export type { RunningServer };

export interface MapiServerOptions {
  /** X-ServerApplication, e.g. 'Exchange/15.02.1544.014' (Exchange 2019 CU14). */
  server: string;
  /** X-PendingPeriod and the keep-alive interval, ms; default 15000 (Exchange 2013 SP1 / 2016 RTM). */
  pendingPeriodMs: number;
  /** How long NotificationWait holds before DONE with no event; default 2 × pendingPeriodMs. */
  notificationWaitMs?: number;
  /** X-ExpirationInfo, ms until an idle Session Context expires; default 900000 (gromox). */
  expirationMs?: number;
  /** Answer requests without an Authorization header with 401 (SPEC 2.2.2: anonymous is refused). Default false. */
  requireAuthorization?: boolean;
  logger: Logger;
}

type Endpoint = 'emsmdb' | 'nspi';

/** MS-OXCMAPIHTTP 2.2.3.3.1 (§1.5): the request types this simulator answers, per endpoint. */
const REQUEST_TYPES: Record<Endpoint, readonly string[]> = {
  emsmdb: ['Connect', 'Execute', 'Disconnect', 'NotificationWait', 'PING'],
  nspi: ['Bind', 'Unbind', 'GetMailboxUrl', 'GetAddressBookUrl', 'PING'],
};

/** Request types that create a Session Context, and those that need none. */
const OPENS_SESSION = new Set(['connect', 'bind']);
const SESSIONLESS = new Set(['ping']);

interface Session {
  endpoint: Endpoint;
  sequence: string;
  userDn: string;
}

/** X-ResponseCode values used here (MS-OXCMAPIHTTP 2.2.3.3.3, §1.7). */
const CODE = {
  invalidVerb: 2,
  invalidPath: 3,
  invalidHeader: 4,
  invalidRequestType: 5,
  missingHeader: 7,
  contextNotFound: 10,
  missingCookie: 13,
  invalidSequence: 15,
} as const;

const DN_PREFIX = '/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)';

export async function startMapiServer(options: MapiServerOptions, listen: { host: string; port: number }): Promise<RunningServer> {
  const log = options.logger.child({ simulator: 'mapi-server' });
  const pendingPeriodMs = options.pendingPeriodMs > 0 ? options.pendingPeriodMs : 15000;
  const notificationWaitMs = options.notificationWaitMs ?? 2 * pendingPeriodMs;
  const expirationMs = options.expirationMs ?? 900000;
  const sessions = new Map<string, Session>();
  const serverGuid = randomBytes(16);

  /** Headers every response carries: the echoes and X-ServerApplication. */
  function echoHeaders(req: http.IncomingMessage): Record<string, string> {
    const out: Record<string, string> = { 'X-ServerApplication': options.server };
    for (const name of ['X-RequestType', 'X-RequestId', 'X-ClientInfo']) {
      const value = req.headers[name.toLowerCase()];
      if (typeof value === 'string') out[name] = value;
    }
    return out;
  }

  /** SPEC 2.2.2.2: non-exceptional failures are 200 + X-ResponseCode + a text/html diagnostic. */
  function fail(req: http.IncomingMessage, res: http.ServerResponse, code: number, message: string): void {
    req.resume();
    const body = formatErrorPage(message);
    log.info({ code, requestType: req.headers['x-requesttype'], reason: message }, 'request refused');
    res.writeHead(200, {
      'Cache-Control': 'private',
      'Content-Type': 'text/html',
      ...echoHeaders(req),
      'X-ResponseCode': String(code),
      'Content-Length': String(body.length),
    });
    res.end(body);
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (options.requireAuthorization === true && req.headers.authorization === undefined) {
      req.resume();
      // §4.4: Exchange Online's 401 still carries X-ServerApplication and the echoes.
      res.writeHead(401, { ...echoHeaders(req), 'WWW-Authenticate': 'Basic realm=""', 'Content-Length': '0' });
      res.end();
      return;
    }
    const url = originForm(req.url);
    // gromox routes on these literal prefixes, case-insensitively (§1.2).
    const lower = url.toLowerCase();
    const endpoint: Endpoint | undefined = lower.startsWith('/mapi/emsmdb/?mailboxid=')
      ? 'emsmdb'
      : lower.startsWith('/mapi/nspi/?mailboxid=')
        ? 'nspi'
        : undefined;
    if (endpoint === undefined) return fail(req, res, CODE.invalidPath, `The path ${url} is not a MAPI/HTTP endpoint.`);
    // SPEC 2.1: every request is a POST.
    if (req.method !== 'POST') return fail(req, res, CODE.invalidVerb, `The verb ${req.method ?? ''} is not supported; use POST.`);
    const requestType = req.headers['x-requesttype'];
    // SPEC 2.2.2.1 (§1.3): X-RequestType and X-RequestId are mandatory on every request.
    if (typeof requestType !== 'string' || requestType === '') return fail(req, res, CODE.missingHeader, 'The X-RequestType header is missing.');
    if (typeof req.headers['x-requestid'] !== 'string') return fail(req, res, CODE.missingHeader, 'The X-RequestId header is missing.');
    // SPEC 2.2.3.1.1: the request Content-Type MUST be application/mapi-http; a wrong one is an
    // Invalid Header (4) — the table's closest name; the spec ties no code to this case.
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType === '') return fail(req, res, CODE.missingHeader, 'The Content-Type header is missing.');
    if (contentType !== MAPI_HTTP_CONTENT_TYPE) return fail(req, res, CODE.invalidHeader, `The Content-Type ${contentType} is not ${MAPI_HTTP_CONTENT_TYPE}.`);
    const type = REQUEST_TYPES[endpoint].find((t) => t.toLowerCase() === requestType.toLowerCase());
    if (type === undefined) return fail(req, res, CODE.invalidRequestType, `The request type ${requestType} is not valid for /mapi/${endpoint}/.`);

    const cookies = parseCookies(req.headers.cookie);
    const key = type.toLowerCase();
    let contextId: string | undefined;
    if (!OPENS_SESSION.has(key) && !SESSIONLESS.has(key)) {
      contextId = cookies.get('MapiContext');
      if (contextId === undefined) return fail(req, res, CODE.missingCookie, 'The request has no session context cookie.');
      const session = sessions.get(contextId);
      // SPEC 2.2.3.3.3: 10 Context Not Found — the client SHOULD reconnect.
      if (session === undefined || session.endpoint !== endpoint) return fail(req, res, CODE.contextNotFound, 'The Session Context is not found.');
      // SPEC 3.1.5.5: NotificationWait may run beside another request, so only others are sequenced.
      const sequence = cookies.get('MapiSequence');
      if (key !== 'notificationwait' && sequence !== undefined && sequence !== session.sequence) {
        return fail(req, res, CODE.invalidSequence, 'The request sequence cookie is out of date.');
      }
    }

    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => respond(req, res, endpoint, type, contextId, Buffer.concat(chunks)));
  }

  function respond(req: http.IncomingMessage, res: http.ServerResponse, endpoint: Endpoint, type: string, contextId: string | undefined, body: Buffer): void {
    const startTime = new Date();
    const key = type.toLowerCase();
    const cookiePath = `/mapi/${endpoint}/`;
    const setCookies: string[] = [];
    if (OPENS_SESSION.has(key)) {
      contextId = randomBytes(24).toString('base64url');
      sessions.set(contextId, { endpoint, sequence: '', userDn: key === 'connect' ? readAscii(body) : '' });
      setCookies.push(`MapiContext=${contextId}; path=${cookiePath}; HttpOnly`);
    }
    const session = contextId === undefined ? undefined : sessions.get(contextId);
    if (key === 'disconnect' || key === 'unbind') {
      sessions.delete(contextId!);
      setCookies.push(`MapiContext=; expires=Thu, 01-Jan-1970 00:00:00 GMT; path=${cookiePath}`, `MapiSequence=; expires=Thu, 01-Jan-1970 00:00:00 GMT; path=${cookiePath}`);
    } else if (session !== undefined && key !== 'notificationwait') {
      // Exchange hands out a fresh request-sequence cookie with each answer (§1.5).
      session.sequence = randomBytes(16).toString('base64url');
      setCookies.push(`MapiSequence=${session.sequence}; path=${cookiePath}; HttpOnly`);
    }

    res.socket?.setNoDelay(true);
    res.writeHead(200, {
      'Cache-Control': 'private',
      'Content-Type': MAPI_HTTP_CONTENT_TYPE,
      ...echoHeaders(req),
      'X-ResponseCode': '0',
      'X-PendingPeriod': String(pendingPeriodMs),
      'X-ExpirationInfo': String(expirationMs),
      ...(setCookies.length > 0 ? { 'Set-Cookie': setCookies } : {}),
      'Transfer-Encoding': 'chunked',
    });
    // PROCESSING goes out at once, as its own chunk (SPEC 3.2.5.2).
    res.write(formatMetaTag('PROCESSING'));
    const finish = (responseBody: Buffer): void => {
      res.end(formatDone({ responseCode: 0, elapsedMs: Date.now() - startTime.getTime(), startTime, body: responseBody }));
      log.info({ endpoint, requestType: type, elapsedMs: Date.now() - startTime.getTime() }, 'request answered');
    };

    if (key === 'notificationwait') {
      // SPEC 3.1.5.5: a long poll, held with PENDING keep-alives until an event or the timeout.
      const keepAlive = setInterval(() => res.write(formatMetaTag('PENDING')), pendingPeriodMs);
      const done = setTimeout(() => {
        clearInterval(keepAlive);
        finish(formatNotificationWaitResponse(false));
      }, notificationWaitMs);
      res.on('close', () => {
        clearInterval(keepAlive);
        clearTimeout(done);
      });
      return;
    }
    finish(bodyFor(key, session));
  }

  function bodyFor(key: string, session: Session | undefined): Buffer {
    switch (key) {
      case 'connect':
        return formatConnectResponse({ dnPrefix: DN_PREFIX, displayName: displayNameOf(session?.userDn ?? '') });
      case 'execute':
        return formatExecuteResponse(Buffer.alloc(0));
      case 'bind':
        return formatBindResponse(serverGuid);
      case 'getmailboxurl':
        return formatUrlResponse(`https://mail.example.com/mapi/emsmdb/?MailboxId=${randomUUID()}@example.com`);
      case 'getaddressbookurl':
        return formatUrlResponse(`https://mail.example.com/mapi/nspi/?MailboxId=${randomUUID()}@example.com`);
      case 'ping':
        // §1.6: PING has no response body (the meta-tags are still sent).
        return Buffer.alloc(0);
      default:
        return formatStatusResponse();
    }
  }

  const httpServer = http.createServer(handle);
  return listenOn(httpServer, listen, log);
}

/** `a=1; b=2` → Map (SPEC 2.2.3.2.3 Cookie header). */
function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return cookies;
}

/** The NUL-terminated ASCII UserDN at the start of a Connect request body (§1.6). */
function readAscii(body: Buffer): string {
  const nul = body.indexOf(0);
  return body.subarray(0, nul < 0 ? body.length : nul).toString('latin1');
}

function displayNameOf(userDn: string): string {
  const cn = /\/cn=([^/]*)$/i.exec(userDn)?.[1];
  return cn === undefined || cn === '' ? 'Simulated User' : cn;
}

/**
 * A synthetic journal for the `har-100k` probe (issue 6: "converting a 100,000-exchange journal to
 * HAR takes < 30 s with peak RSS < 200 MB"): one run line, then exchange lines in the journal
 * format v1 (src/record/entry.ts), shaped like what `./proxy start --record` writes for the
 * traffic this proxy is for. The shapes (headers, protocol facts and verdicts, redaction markers,
 * views) were taken from real lines the proxy recorded between the simulators
 * (`./proxy simulate fpse|mapi` and their clients); the line types are checked against entry.ts
 * at compile time, and bodies go through its encodeBody(), so a format change shows up here.
 *
 * The mix, drawn from a seeded generator (the same journal every run):
 *   ~60%  plain GET: small HTML/JSON/CSS answers (a fifth gzip-encoded, which the HAR writer
 *         decodes), some 304 and 404
 *   ~20%  FPSE RPC POSTs (MS-FPSE): form bodies, the observer's facts and verdicts; a few
 *         rewritten by a rule (`rules`, `upstreamResponse`), a few refused
 *   ~15%  MAPI/HTTP POSTs (MS-OXCMAPIHTTP): binary request and response bodies of a few KB
 *         (base64 in the journal), Execute mostly, Connect and NotificationWait
 *   ~4%   CONNECT tunnels passed through; ~0.8% answers the proxy made itself (502, `error`)
 *   ~0.2% big bodies of ~200 KB (a binary download, a binary upload)
 *
 * Lines are written through one write stream in ~1 MiB batches, waiting for 'drain': the file
 * is ~0.5 GB and the harness never holds more than a batch.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import zlib from 'node:zlib';
import type { RawHeaders } from '../src/core/raw-headers.js';
import { encodeBody, JOURNAL_VERSION, type ExchangeLine, type JournalBody, type RunLine } from '../src/record/entry.js';

export type ExchangeShape = 'get' | 'fpse' | 'mapi' | 'tunnel' | 'error' | 'big';

export interface SyntheticJournal {
  file: string;
  exchanges: number;
  bytes: number;
  /** Exchanges of each shape. */
  mix: Record<ExchangeShape, number>;
  seconds: number;
}

/** mulberry32: a small seeded generator, so every run converts the very same journal. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const body = (bytes: Buffer): JournalBody => encodeBody({ bytes, size: bytes.length, truncated: false });

/** Bytes that are not valid UTF-8 (0xff never is), so the journal keeps them as base64, as it does real binary bodies. */
function binary(random: () => number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = Math.floor(random() * 256);
  bytes[0] = 0xff;
  return bytes;
}

const WORDS = 'team site document library version negotiation server client build mailbox folder calendar contact list item view page web part workflow settings'.split(' ');

function prose(random: () => number, size: number): string {
  let text = '';
  while (text.length < size) text += `${WORDS[Math.floor(random() * WORDS.length)]!}${random() < 0.1 ? '.\n' : ' '}`;
  return text.slice(0, size);
}

interface TextAnswer {
  contentType: string;
  body: JournalBody;
  /** The body as it passed: gzip bytes when `gzip`. */
  gzip: boolean;
}

/** Pools of bodies, made once: a line picks one, so generating 100,000 lines costs little. */
function bodyPools(random: () => number) {
  const text: TextAnswer[] = [];
  for (let i = 0; i < 48; i++) {
    const size = 200 + Math.floor(random() * 2800);
    const kind = i % 3;
    const words = prose(random, size);
    const plain =
      kind === 0
        ? `<!DOCTYPE html><html><head><title>${words.slice(0, 40)}</title></head><body><div class="ms-WPBody">${words}</div></body></html>\n`
        : kind === 1
          ? `${JSON.stringify({ d: { results: words.split('.').map((t, n) => ({ Id: n, Title: t.trim(), Modified: '2026-03-02T09:14:00Z' })) } })}\n`
          : `.ms-WPBody { font: 13px "Segoe UI"; } /* ${words} */\n`;
    const contentType = kind === 0 ? 'text/html; charset=utf-8' : kind === 1 ? 'application/json;odata=verbose;charset=utf-8' : 'text/css';
    const gzip = i % 5 === 0;
    text.push({ contentType, gzip, body: body(gzip ? zlib.gzipSync(plain) : Buffer.from(plain)) });
  }
  const mapiRequest = Array.from({ length: 24 }, () => body(binary(random, 200 + Math.floor(random() * 1800))));
  const mapiResponse = Array.from({ length: 24 }, () => body(binary(random, 2048 + Math.floor(random() * 6144))));
  const big = Array.from({ length: 4 }, () => body(binary(random, 180_000 + Math.floor(random() * 40_000))));
  return { text, mapiRequest, mapiResponse, big };
}

type Pools = ReturnType<typeof bodyPools>;

const HOSTS = ['intranet.contoso.lab', 'sp2010.contoso.lab', 'teams.contoso.lab', 'wiki.fabrikam.lab', 'portal.fabrikam.lab', 'cdn.contoso.lab'];
const FPSE_HOSTS = ['sp2010.contoso.lab', 'sp2013.contoso.lab', 'fp.fabrikam.lab'];
const MAPI_HOST = 'mail.contoso.lab';
const GET_PATHS = ['/', '/sites/docs/default.aspx', '/_layouts/15/start.aspx', '/_api/web/lists', '/_layouts/15/1033/styles/corev15.css', '/sites/team/SitePages/Home.aspx'];
const BROWSER = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51';

/** What the upstream sent past the response's own headers: the hop-by-hop ones the proxy drops (RFC 9110 §7.6.1). */
const HOP = ['Connection', 'keep-alive', 'Keep-Alive', 'timeout=120'];

/** `{ ok, version: { parts, text, widths } }` as the protocol layer states a parsed build. */
function build(text: string, product?: string) {
  const numbers = (product === undefined ? text : text.slice(product.length + 1)).split('.');
  return { ok: true, version: { parts: numbers.map(Number), text, widths: numbers.map((n) => n.length), ...(product !== undefined && { product }) } };
}

interface Context {
  random: () => number;
  pools: Pools;
  runId: string;
  /** Sequence number of the exchange (its id), start time, client connection. */
  n: number;
  start: number;
  connection: number;
  date: string;
}

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

function base(c: Context, url: string, method: string, rawHeaders: RawHeaders, requestBytes: number, responseBytes: number, wait: number): ExchangeLine {
  const connected = c.start + 0.3 + c.random();
  const head = connected + wait;
  return {
    v: JOURNAL_VERSION,
    type: 'exchange',
    id: `${c.runId}-${c.n}`,
    kind: 'http',
    client: { address: `10.0.4.${17 + (c.connection % 40)}`, port: 49152 + (c.connection % 16000), connection: c.connection },
    url,
    request: { method, url, httpVersion: '1.1', rawHeaders },
    bytes: { request: requestBytes, response: responseBytes },
    timings: { start: c.start, upstreamConnected: connected, responseHead: head, end: head + 0.2 + c.random() * 2 },
    upstream: { localAddress: '10.0.1.5', localPort: 40000 + (c.connection % 20000), reused: c.random() < 0.8 },
  };
}

/** The forwarded view: the request as the upstream got it (origin-form, hop-by-hop headers gone). */
function forwarded(path: string, raw: RawHeaders): ExchangeLine['forwarded'] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!/^(proxy-connection|connection|keep-alive)$/i.test(raw[i]!)) out.push(raw[i]!, raw[i + 1]!);
  }
  return { path, rawHeaders: out };
}

function plainGet(c: Context): ExchangeLine {
  const { random, pools } = c;
  const host = pick(random, HOSTS);
  const path = pick(random, GET_PATHS);
  const url = `http://${host}${path}`;
  const headers = ['Host', host, 'User-Agent', BROWSER, 'Accept', 'text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8', 'Accept-Language', 'en-US,en;q=0.9', 'Accept-Encoding', 'gzip, deflate', 'Cookie', 'FedAuth=<redacted 1180 bytes>; rtFa=<redacted 352 bytes>', 'Proxy-Connection', 'keep-alive'];
  const roll = random();
  if (roll < 0.1) {
    // A revalidation: 304, no body.
    const line = base(c, url, 'GET', [...headers, 'If-None-Match', '"{6F1B1C6E-2B5A-4B5E-9C1A-3E3F2B1A0C9D},4"'], 0, 0, 2 + random() * 8);
    const res = ['Cache-Control', 'private, max-age=0', 'ETag', '"{6F1B1C6E-2B5A-4B5E-9C1A-3E3F2B1A0C9D},4"', 'Server', 'Microsoft-IIS/10.0', 'Date', c.date];
    line.forwarded = forwarded(path, headers);
    line.response = { statusCode: 304, statusMessage: 'Not Modified', httpVersion: '1.1', rawHeaders: res, source: 'upstream' };
    line.upstreamResponse = { ...line.response, rawHeaders: [...res, ...HOP] };
    return line;
  }
  const answer = pick(random, pools.text);
  const notFound = roll > 0.95;
  const res = [
    'Cache-Control',
    'private, max-age=0',
    'Content-Type',
    answer.contentType,
    ...(answer.gzip ? ['Content-Encoding', 'gzip', 'Vary', 'Accept-Encoding'] : []),
    'Content-Length',
    String(answer.body.size),
    'Server',
    'Microsoft-IIS/10.0',
    'X-SharePointHealthScore',
    '0',
    'SPRequestGuid',
    'a1b2c3d4-0000-4000-8000-00000000beef',
    'X-Powered-By',
    'ASP.NET',
    'Date',
    c.date,
  ];
  const line = base(c, url, 'GET', headers, 0, answer.body.size, 5 + random() * 40);
  line.forwarded = forwarded(path, headers);
  line.response = { statusCode: notFound ? 404 : 200, statusMessage: notFound ? 'Not Found' : 'OK', httpVersion: '1.1', rawHeaders: res, source: 'upstream' };
  line.upstreamResponse = { ...line.response, rawHeaders: [...res, ...HOP] };
  line.bodies = { response: answer.body };
  return line;
}

const FPSE_METHODS = ['server version', 'open service', 'url to web url', 'list documents', 'getDocsMetaInfo'] as const;
const SERVER = '14.0.0.6029';
const CLIENTS = ['12.0.0.6415', '14.0.0.4762', '15.0.0.4569', '16.0.0.4266'];

function fpseRpc(c: Context): ExchangeLine {
  const { random } = c;
  const host = pick(random, FPSE_HOSTS);
  const method = random() < 0.5 ? 'server version' : pick(random, FPSE_METHODS);
  const client = pick(random, CLIENTS);
  const refused = random() < 0.04;
  const rewritten = !refused && random() < 0.05;
  const path = method === 'server version' ? '/_vti_bin/shtml.dll/_vti_rpc' : '/_vti_bin/_vti_aut/author.dll';
  const url = `http://${host}${path}`;
  const escaped = (text: string): string => text.replace(/ /g, '+').replace(/:/g, '%3a').replace(/\./g, '%2e').replace(/_/g, '%5f');
  const form = `method=${escaped(`${method}:${client}`)}&service%5fname=%2f${method === 'server version' ? '' : `&url=%2fsites%2fdocs%2fShared%20Documents%2f${c.n}%2edocx&meta%5finfo=%5bvti%5ftimelastmodified%5d`}`;
  const request = Buffer.from(form);
  const negotiated = client < SERVER ? client : SERVER;
  const shown = rewritten ? '5.0.2.6790' : SERVER;
  const packet = refused
    ? `<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=${method}:${client}\n<p>status=\n<ul>\n<li>status=262156\n<li>osstatus=0\n<li>msg=The server does not support the client version ${client}\n<li>osmsg=\n</ul>\n</body>\n</html>\n`
    : `<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=${method}:${negotiated}\n<p>server version=\n<ul>\n<li>major ver=${shown.split('.')[0]!}\n<li>minor ver=0\n<li>phase ver=${shown.split('.')[2]!}\n<li>ver incr=${shown.split('.')[3]!}\n</ul>\n<p>source control=1\n${method === 'server version' ? '' : `<p>service_name=/\n<p>meta_info=\n<ul>\n${'<li>vti_timelastmodified\n<li>TR|02 Mar 2026 09:14:00 -0000\n'.repeat(6)}</ul>\n`}</body>\n</html>\n`;
  const response = Buffer.from(packet);
  const headers = [
    'Host',
    host,
    'Date',
    c.date,
    'MIME-Version',
    '1.0',
    'User-Agent',
    `MSFrontPage/${client.split('.')[0]!}.0`,
    'Accept',
    'auth/sicily',
    'Authorization',
    'NTLM <redacted 412 bytes>',
    'Content-Type',
    'application/x-www-form-urlencoded',
    'X-Vermeer-Content-Type',
    'application/x-www-form-urlencoded',
    'Connection',
    'Keep-Alive',
    'Cache-Control',
    'no-cache',
    'Content-Length',
    String(request.length),
  ];
  const res = ['Cache-Control', 'no-cache', 'Content-Type', 'application/x-vermeer-rpc', 'Server', 'Microsoft-IIS/7.5', 'MicrosoftSharePointTeamServices', shown, 'X-Powered-By', 'ASP.NET', 'Content-Length', String(response.length), 'Date', c.date];
  const line = base(c, url, 'POST', headers, request.length, response.length, 8 + random() * 60);
  line.forwarded = forwarded(path, headers);
  line.response = { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: res, source: 'upstream' };
  const upstreamRes = rewritten ? res.map((v) => (v === shown ? SERVER : v)) : res;
  line.upstreamResponse = { ...line.response, rawHeaders: [...upstreamRes, ...HOP] };
  line.bodies = { request: body(request), response: body(response) };
  const verdict = refused
    ? { code: 'rejected-client-too-old', level: 'notice' as const, message: `the server refused client ${client} with status 262156 (MS-FPSE 2.2.4)` }
    : { code: 'accepted', level: 'ok' as const, message: `the server answered on ${negotiated} = Min(client ${client}, server ${SERVER}), as MS-FPSE 1.7.1 requires` };
  line.protocol = {
    protocol: 'fpse',
    conversation: `${line.client.address} ${host}`,
    facts: {
      endpoint: method === 'server version' ? 'rpc' : 'author',
      requestHeaders: { problems: [], frontPageUserAgent: `MSFrontPage/${client.split('.')[0]!}.0`, contentType: 'application/x-www-form-urlencoded', vermeerContentType: 'application/x-www-form-urlencoded' },
      request: {
        params: method === 'server version' ? ['service_name'] : ['service_name', 'url', 'meta_info'],
        firstLineBytes: request.length,
        complete: true,
        problems: [],
        method,
        rawMethodValue: escaped(`${method}:${client}`),
        methodValueOffset: 7,
        methodValueLength: escaped(`${method}:${client}`).length,
        style: { space: '+', colon: '%3a', dot: '%2e', underscore: '%5f', guessed: [] },
        clientVersion: build(client),
      },
      responseHeaders: { problems: [], sharePointTeamServices: shown, sharePointVersion: build(shown), contentType: 'application/x-vermeer-rpc' },
      packet: refused
        ? { isError: true, bytes: response.length, problems: [], method, status: 262156, message: `The server does not support the client version ${client}` }
        : { isError: false, bytes: response.length, problems: [], method, methodVersion: build(negotiated), methodVersionSpan: { offset: 85, length: negotiated.length }, serverVersion: { major: 14, minor: 0, phase: 0, incr: 6029, version: build(SERVER) }, sourceControl: '1' },
    },
    problems: [],
    verdicts: [verdict],
    summary: `fpse "${method}" client=${client} server=${SERVER} negotiated=${negotiated} ${verdict.code}`,
    operation: method,
    versions: { client, server: SERVER, negotiated },
  };
  if (rewritten) {
    line.rules = [
      {
        id: 'pretend-fp2002',
        explain: 'For FPSE "server version" calls to *.contoso.lab, rewrite the server version to 5.0.2.6790',
        stage: 'response-body',
        outcome: 'applied',
        changes: [
          { action: 'serverVersion', target: 'MicrosoftSharePointTeamServices', before: SERVER, after: shown },
          { action: 'serverVersion', target: 'response body: server version', before: SERVER, after: shown },
        ],
      },
    ];
  }
  return line;
}

const REQUEST_TYPES = ['Execute', 'Execute', 'Execute', 'Execute', 'Execute', 'Execute', 'Connect', 'NotificationWait'] as const;

function mapiHttp(c: Context): ExchangeLine {
  const { random, pools } = c;
  const type = pick(random, REQUEST_TYPES);
  const mailbox = '0e2dcbf4-7d6b-4a46-9a7b-3f7bd8f49e3a@contoso.com';
  const url = `http://${MAPI_HOST}/mapi/emsmdb/?MailboxId=${mailbox}`;
  const clientInfo = `{2988F483-EA3E-4EAF-B9E1-${(c.connection % 1e12).toString(16).toUpperCase().padStart(12, '0')}}:${c.n % 100}`;
  const requestId = `{C5C261B5-AA4F-4953-A989-BEEBDFF17DF8}:${c.n}`;
  const request = pick(random, pools.mapiRequest);
  const answer = pick(random, pools.mapiResponse);
  const client = 'Outlook/16.0.15928.20006';
  const server = 'Exchange/15.02.1544.014';
  const headers = [
    'Host',
    MAPI_HOST,
    'Content-Type',
    'application/mapi-http',
    'X-RequestType',
    type,
    'X-ClientInfo',
    clientInfo,
    'X-RequestId',
    requestId,
    'X-ClientApplication',
    client,
    'User-Agent',
    'Microsoft Office/16.0 (Windows NT 10.0; MAPI 16.0.15928; Pro)',
    'Accept',
    '*/*',
    'Authorization',
    'Negotiate <redacted 1904 bytes>',
    'Cookie',
    'MapiContext=<redacted 32 bytes>; MapiSequence=<redacted 22 bytes>',
    'Content-Length',
    String(request.size),
    'Connection',
    'keep-alive',
  ];
  const res = [
    'Cache-Control',
    'private',
    'Content-Type',
    'application/mapi-http',
    'X-ServerApplication',
    server,
    'X-RequestType',
    type,
    'X-RequestId',
    requestId,
    'X-ClientInfo',
    clientInfo,
    'X-ResponseCode',
    '0',
    'X-PendingPeriod',
    '15000',
    'X-ExpirationInfo',
    '900000',
    'Set-Cookie',
    'MapiSequence=<redacted 22 bytes>; path=/mapi/emsmdb/; HttpOnly',
    'Transfer-Encoding',
    'chunked',
    'Date',
    c.date,
  ];
  const pending = type === 'NotificationWait' ? 1 + Math.floor(random() * 4) : 0;
  const line = base(c, url, 'POST', headers, request.size, answer.size, type === 'NotificationWait' ? 15_000 * pending : 3 + random() * 30);
  line.forwarded = forwarded('/mapi/emsmdb/?MailboxId=' + mailbox, headers);
  line.response = { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: res, source: 'upstream' };
  line.upstreamResponse = { ...line.response, rawHeaders: [...res, ...HOP] };
  line.bodies = { request, response: answer };
  const responseCode = { value: 0, name: 'Success', kebab: 'success' };
  line.protocol = {
    protocol: 'mapihttp',
    conversation: `clientinfo ${clientInfo.split(':')[0]!}`,
    facts: {
      request: { endpoint: 'emsmdb', cookieNames: ['MapiContext', 'MapiSequence'], problems: [], requestType: type, requestId, clientInfo, clientApplication: client, clientVersion: build(client, 'Outlook'), mailboxId: mailbox },
      response: {
        setCookieNames: ['MapiSequence'],
        problems: [],
        serverApplication: server,
        serverVersion: build(server, 'Exchange'),
        requestType: type,
        requestId,
        clientInfo,
        contentType: 'application/mapi-http',
        pendingPeriod: 15000,
        expirationInfo: 900000,
        responseCode,
      },
      stream: {
        processing: 1,
        pending,
        done: true,
        additionalHeaders: [
          ['X-ResponseCode', '0'],
          ['X-ElapsedTime', String(Math.floor(random() * 40))],
          ['X-StartTime', c.date],
        ],
        bodyBytes: answer.size - 100,
        totalBytes: answer.size,
        complete: true,
        phase: 'body',
        problems: [],
        responseCode,
        elapsedTime: 12,
        startTime: c.date,
      },
    },
    problems: [],
    verdicts: [{ code: 'ok', level: 'ok', message: 'both builds stated, as MS-OXCMAPIHTTP requires' }],
    summary: `mapihttp ${type} client=${client} server=${server} code=0 PROCESSING,${'PENDING,'.repeat(pending)}DONE ok`,
    operation: type,
    versions: { client, server },
  };
  return line;
}

function tunnel(c: Context): ExchangeLine {
  const host = `${pick(c.random, ['login.microsoftonline.com', 'outlook.office365.com', 'teams.contoso.lab', 'cdn.fabrikam.lab'])}:443`;
  const line = base(c, host, 'CONNECT', ['Host', host, 'User-Agent', BROWSER, 'Proxy-Connection', 'keep-alive'], 4000 + Math.floor(c.random() * 20_000), 9000 + Math.floor(c.random() * 200_000), 2);
  delete line.upstream;
  line.kind = 'tunnel';
  line.response = { statusCode: 200, statusMessage: 'Connection Established', httpVersion: '1.1', rawHeaders: [], source: 'proxy' };
  line.ended = pick(c.random, ['client-closed', 'upstream-closed']);
  line.timings.end = c.start + 2000 + c.random() * 60_000;
  return line;
}

function proxyError(c: Context): ExchangeLine {
  const host = `${pick(c.random, HOSTS)}:8443`;
  const url = `http://${host}/health`;
  const headers = ['Host', host, 'User-Agent', 'curl/8.5.0', 'Accept', '*/*', 'Proxy-Connection', 'Keep-Alive'];
  const text = Buffer.from(`version-proxy: could not connect to the upstream http://${host}: ECONNREFUSED (connect ECONNREFUSED 10.0.9.9:8443)\n`);
  const line = base(c, url, 'GET', headers, 0, text.length, 1);
  delete line.upstream;
  delete line.timings.upstreamConnected;
  line.forwarded = forwarded('/health', headers);
  line.error = { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.9.9:8443', phase: 'connect' };
  line.response = { statusCode: 502, statusMessage: 'Bad Gateway', httpVersion: '1.1', rawHeaders: ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(text.length), 'X-Proxy-Error', 'ECONNREFUSED'], source: 'proxy' };
  line.bodies = { response: body(text) };
  return line;
}

/** ~200 KB each way: a document downloaded, or uploaded with PUT (binary, base64 in the journal). */
function big(c: Context): ExchangeLine {
  const host = pick(c.random, HOSTS);
  const upload = c.random() < 0.5;
  const path = `/sites/docs/Shared%20Documents/report-${c.n}.docx`;
  const url = `http://${host}${path}`;
  const payload = pick(c.random, c.pools.big);
  const docx = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
  const headers = ['Host', host, 'User-Agent', 'Microsoft Office Word 2014', 'Authorization', 'NTLM <redacted 412 bytes>', ...(upload ? ['Content-Type', docx, 'Content-Length', String(payload.size)] : []), 'Proxy-Connection', 'keep-alive'];
  const res = upload
    ? ['Content-Length', '0', 'ETag', '"{0B1E8F35-1D6F-4F8B-8A60-1B6C6F7B1E11},1"', 'Server', 'Microsoft-IIS/10.0', 'Date', c.date]
    : ['Content-Type', docx, 'Content-Length', String(payload.size), 'ETag', '"{0B1E8F35-1D6F-4F8B-8A60-1B6C6F7B1E11},1"', 'Server', 'Microsoft-IIS/10.0', 'Date', c.date];
  const line = base(c, url, upload ? 'PUT' : 'GET', headers, upload ? payload.size : 0, upload ? 0 : payload.size, 20 + c.random() * 100);
  line.forwarded = forwarded(path, headers);
  line.response = { statusCode: upload ? 201 : 200, statusMessage: upload ? 'Created' : 'OK', httpVersion: '1.1', rawHeaders: res, source: 'upstream' };
  line.upstreamResponse = { ...line.response, rawHeaders: [...res, ...HOP] };
  line.bodies = upload ? { request: payload } : { response: payload };
  return line;
}

const SHAPES: Record<ExchangeShape, (c: Context) => ExchangeLine> = { get: plainGet, fpse: fpseRpc, mapi: mapiHttp, tunnel, error: proxyError, big };

function shapeOf(roll: number): ExchangeShape {
  if (roll < 0.6) return 'get';
  if (roll < 0.8) return 'fpse';
  if (roll < 0.95) return 'mapi';
  if (roll < 0.99) return 'tunnel';
  if (roll < 0.998) return 'error';
  return 'big';
}

const BATCH_BYTES = 1 << 20;

/** Writes `exchanges` exchange lines (after one run line) to `file`, replacing it. */
export async function writeSyntheticJournal(file: string, exchanges: number, seed = 6): Promise<SyntheticJournal> {
  const started = process.hrtime.bigint();
  const random = seeded(seed);
  const pools = bodyPools(random);
  const mix: Record<ExchangeShape, number> = { get: 0, fpse: 0, mapi: 0, tunnel: 0, error: 0, big: 0 };
  const t0 = Date.UTC(2026, 2, 2, 9, 0, 0);
  const run: RunLine = { v: JOURNAL_VERSION, type: 'run', time: t0, tool: '0.1.0', mode: 'forward', captureBytes: 1048576, redaction: { enabled: true, extraHeaders: [] }, part: 1 };
  const out = fs.createWriteStream(file);
  const opened = once(out, 'open');
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  await Promise.race([opened, failed]);
  let batch = `${JSON.stringify(run)}\n`;
  let bytes = 0;
  const flush = async (): Promise<void> => {
    bytes += Buffer.byteLength(batch);
    const full = !out.write(batch);
    batch = '';
    if (full) await Promise.race([once(out, 'drain'), failed]);
  };
  // Exchanges ~18 ms apart on average (100,000 in half an hour), ~8 per client connection.
  let start = t0;
  let connection = 1;
  for (let n = 1; n <= exchanges; n++) {
    start += random() * 36;
    if (random() < 0.125) connection += 1;
    const shape = shapeOf(random());
    mix[shape] += 1;
    const date = new Date(Math.floor(start / 1000) * 1000).toUTCString();
    batch += `${JSON.stringify(SHAPES[shape]({ random, pools, runId: 'b6k9x', n, start, connection, date }))}\n`;
    if (batch.length >= BATCH_BYTES) await flush();
  }
  await flush();
  out.end();
  await Promise.race([once(out, 'close'), failed]);
  return { file, exchanges, bytes, mix, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/**
 * An Office/FrontPage client conversation (docs/protocols.md §2), all on one kept-alive connection:
 *   1. GET  /_vti_inf.html                         discover FPVersion and the script URLs (§2.1)
 *   2. POST shtml.dll  method=server version:<v>   learn the server build and the negotiated version (§2.3)
 *   3. POST author.dll method=open service:<n>     with the NEGOTIATED version n (§2.6)
 *   4. POST shtml.dll  method=url to web url:<n>
 * Stops after 2 when the server rejects the client (status 262156) or is older than 3.0.2.1002
 * (MS-FPSE 1.7.1: the client walks away without a word on the wire).
 */
import type { Logger } from 'pino';
import { compareVersions, minVersion, parseVersion, type Version } from '../core/version.js';
import { DEFAULT_SCRIPT_URLS, OLDEST_SUPPORTED_SERVER } from '../protocols/fpse-format.js';
import { createHttpClient, headerValue, type HttpClient } from './http-client.js';

export interface ClientRunOptions {
  /** Origin URL of the server, e.g. http://127.0.0.1:PORT */
  server: string;
  /** Forward proxy URL; absent = direct. */
  via?: string;
  logger: Logger;
}

export interface FpseClientStep {
  request: string;
  status: number;
  /** The decoded `method=` value of the answer, e.g. `server version:12.0.0.6415`. */
  methodLine?: string;
  /** From a `server version` answer's list: major.minor.phase.incr. */
  serverVersion?: string;
  /** `status=<code> <msg>` of an error packet. */
  error?: string;
  /** Local port of the connection used (all steps share one). */
  connection?: number;
}

export interface FpseClientReport {
  steps: FpseClientStep[];
  negotiated?: string;
  serverVersion?: string;
  rejected: boolean;
  /** Why the client stopped early without a server error, e.g. the server is too old. */
  abandoned?: string;
}

/**
 * How Office writes a form value: everything but letters and digits as lowercase `%xx`, space as
 * `+` (`method=server+version%3a12%2e0%2e0%2e6415&service%5fname=%2f`, §2.2 / §4.9). `plain`
 * writes `:` `.` `_` `/` as they are, like scanners and simple tools.
 */
export function encodeFormValue(text: string, encoding: 'percent' | 'plain'): string {
  if (encoding === 'plain') return text.replace(/ /g, '+').replace(/[^A-Za-z0-9+:./_\-[\];|]/g, percent);
  return text.replace(/[^A-Za-z0-9 ]/g, percent).replace(/ /g, '+');
}

function percent(ch: string): string {
  return [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

export function formatRpcBody(pairs: ReadonlyArray<readonly [string, string]>, encoding: 'percent' | 'plain'): string {
  return pairs.map(([name, value]) => `${encodeFormValue(name, encoding)}=${encodeFormValue(value, encoding)}`).join('&');
}

/** Reads what a client needs from a vermeer packet: method line, version list, error status. */
export function readRpcPacket(html: string): { methodLine?: string; serverVersion?: string; status?: number; msg?: string } {
  const field = (pattern: RegExp): string | undefined => pattern.exec(html)?.[1]?.trim();
  const unescape = (s: string | undefined): string | undefined =>
    s?.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const methodLine = unescape(field(/<p>method=([^\n<]*)/));
  const numbers = ['major ver', 'minor ver', 'phase ver', 'ver incr'].map((key) => field(new RegExp(`<li>${key}=(\\d+)`)));
  const serverVersion = numbers.every((n) => n !== undefined) ? numbers.join('.') : undefined;
  const status = field(/<li>status=(-?\d+)/);
  const msg = unescape(field(/<li>msg=([^\n]*)/));
  return {
    ...(methodLine === undefined ? {} : { methodLine }),
    ...(serverVersion === undefined ? {} : { serverVersion }),
    ...(status === undefined ? {} : { status: Number(status) }),
    ...(msg === undefined ? {} : { msg }),
  };
}

/** FPVersion and script URLs from _vti_inf.html (§2.1); defaults when a key is missing. */
export function readVtiInf(html: string): { fpVersion?: string; shtml: string; author: string } {
  const key = (name: string): string | undefined => new RegExp(`${name}="([^"]*)"`).exec(html)?.[1];
  const fpVersion = key('FPVersion');
  return {
    ...(fpVersion === undefined ? {} : { fpVersion }),
    shtml: key('FPShtmlScriptUrl') ?? DEFAULT_SCRIPT_URLS.shtml,
    author: key('FPAuthorScriptUrl') ?? DEFAULT_SCRIPT_URLS.author,
  };
}

export interface FpseClientOptions extends ClientRunOptions {
  version: string;
  encoding?: 'percent' | 'plain';
  /** Told about each step as soon as its answer is in (the CLI prints it). */
  onStep?(step: FpseClientStep): void;
}

export async function runFpseClient(options: FpseClientOptions): Promise<FpseClientReport> {
  const parsed = parseVersion(options.version);
  if (!parsed.ok) throw new RangeError(`fpse client version ${parsed.problem}`);
  const own = parsed.version;
  const encoding = options.encoding ?? 'percent';
  const log = options.logger.child({ simulator: 'fpse-client' });
  // maxSockets 1: Office keeps the whole conversation on one connection (§2.2 Connection: Keep-Alive).
  const http = createHttpClient({ maxSockets: 1, ...(options.via === undefined ? {} : { via: options.via }) });
  const report: FpseClientReport = { steps: [], rejected: false };
  const userAgent = `MSFrontPage/${own.parts[0]}.0`;
  const record = (step: FpseClientStep): FpseClientStep => {
    report.steps.push(step);
    options.onStep?.(step);
    return step;
  };
  try {
    const inf = await http.request(options.server, {
      method: 'GET',
      path: '/_vti_inf.html',
      headers: { 'User-Agent': `Mozilla/4.0 (compatible; MS FrontPage ${own.parts[0]}.0)`, Accept: '*/*' },
    });
    record({ request: 'GET /_vti_inf.html', status: inf.status, ...connection(inf.localPort) });
    const urls = readVtiInf(inf.body.toString('latin1'));

    const call = rpcCaller(http, options.server, userAgent, encoding);
    const versionStep = record(await call(urls.shtml, 'server version', own.text, [['service_name', '/']]));
    if (versionStep.error !== undefined) {
      report.rejected = true;
      log.info({ error: versionStep.error }, 'server rejected the client');
      return report;
    }
    const server = versionStep.serverVersion === undefined ? undefined : parseVersion(versionStep.serverVersion);
    if (server?.ok === true) report.serverVersion = versionStep.serverVersion;
    if (server?.ok === true && compareVersions(server.version, oldestServer()) < 0) {
      // MS-FPSE 1.7.1: a client ignores a server earlier than 3.0.2.1002, silently.
      report.abandoned = `server ${server.version.text} is older than ${OLDEST_SUPPORTED_SERVER}`;
      log.info({ server: server.version.text }, 'server too old; conversation abandoned');
      return report;
    }
    const echoed = versionStep.methodLine?.split(':')[1];
    const echoedVersion = echoed === undefined ? undefined : parseVersion(echoed);
    // The client uses the version from the method line for all further calls (§2.6); without
    // one it falls back to Min(own, server build).
    const negotiated: Version =
      echoedVersion?.ok === true ? echoedVersion.version : server?.ok === true ? minVersion(own, server.version) : own;
    report.negotiated = negotiated.text;
    log.info({ client: own.text, negotiated: negotiated.text, server: report.serverVersion }, 'version negotiated');

    record(await call(urls.author, 'open service', negotiated.text, [['service_name', '/']]));
    record(await call(urls.shtml, 'url to web url', negotiated.text, [['url', '/Shared Documents/report.docx'], ['flags', '0']]));
    return report;
  } finally {
    http.close();
  }
}

function oldestServer(): Version {
  const result = parseVersion(OLDEST_SUPPORTED_SERVER);
  if (!result.ok) throw new Error(`OLDEST_SUPPORTED_SERVER ${result.problem}`);
  return result.version;
}

function connection(localPort: number | undefined): { connection?: number } {
  return localPort === undefined ? {} : { connection: localPort };
}

function rpcCaller(http: HttpClient, origin: string, userAgent: string, encoding: 'percent' | 'plain') {
  return async (scriptUrl: string, method: string, version: string, params: ReadonlyArray<readonly [string, string]>): Promise<FpseClientStep> => {
    const body = formatRpcBody([['method', `${method}:${version}`], ...params], encoding);
    const contentType = 'application/x-www-form-urlencoded';
    // MC-FPSEWM 4.2.4.1 header set (§2.2).
    const res = await http.request(origin, {
      method: 'POST',
      path: `/${scriptUrl.replace(/^\/+/, '')}`,
      headers: {
        Date: new Date().toUTCString(),
        'MIME-Version': '1.0',
        'User-Agent': userAgent,
        Accept: 'auth/sicily',
        'Content-Type': contentType,
        'X-Vermeer-Content-Type': contentType,
        Connection: 'Keep-Alive',
        'Cache-Control': 'no-cache',
      },
      body,
    });
    const packet = readRpcPacket(res.body.toString('latin1'));
    const isRpc = (headerValue(res.headers, 'content-type') ?? '').includes('vermeer');
    const error =
      packet.status !== undefined ? `status=${packet.status}${packet.msg === undefined ? '' : ` ${packet.msg}`}` : res.status !== 200 || !isRpc ? `HTTP ${res.status}` : undefined;
    return {
      request: `${method}:${version}`,
      status: res.status,
      ...(packet.methodLine === undefined ? {} : { methodLine: packet.methodLine }),
      ...(packet.serverVersion === undefined ? {} : { serverVersion: packet.serverVersion }),
      ...(error === undefined ? {} : { error }),
      ...connection(res.localPort),
    };
  };
}

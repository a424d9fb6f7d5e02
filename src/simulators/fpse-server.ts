/**
 * A FrontPage Server Extensions / SharePoint RPC server, close enough to the real one that an
 * Office client cannot tell (docs/protocols.md §2). It serves:
 *   GET  /_vti_inf.html                     discovery page (§2.1)
 *   POST /_vti_bin/shtml.dll/_vti_rpc        browse-time methods: server version, url to web url
 *   POST /_vti_bin/_vti_aut/author.dll       authoring methods: open service, list documents, put document…
 *   OPTIONS *                               the FPSE-compliant OPTIONS answer (§2.7)
 * Version negotiation (MS-FPSE 1.7.1, §2.6): a client below `minClient` gets status 262156
 * (V_RPC_CLIENT_TOO_OLD); otherwise each method line carries Min(client, server), or a fixed
 * echo (WSS 2.0 answered a 6.0.2.5614 client with 6.0.0.0, §2.3).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { compareVersions, minVersion, parseVersion, type Version } from '../core/version.js';
import {
  DEFAULT_SCRIPT_URLS,
  OLDEST_COMPATIBLE_CLIENT,
  V_RPC_CLIENT_TOO_OLD,
  VERMEER_RPC_CONTENT_TYPE,
  formatErrorPacket,
  formatMethodResponse,
  formatServerVersionResponse,
  formatVtiInfPage,
  type RpcEntry,
} from '../protocols/fpse-format.js';

export interface FpseServerOptions {
  /** The server's real build, e.g. '14.0.0.6029' (SharePoint Foundation 2010). */
  version: string;
  /** Oldest client accepted; default '4.0.2.2611' (MS-FPSE 1.7.1). */
  minClient?: string;
  /** What method lines carry: Min(client, server) (default) or always one fixed version. */
  echo?: 'min' | { fixed: string };
  /**
   * What the method line of a version-less request carries: the server's version (default) or
   * none, as the FP2002 capture of §4.8 shows (`<p>method=server version`).
   */
  versionlessEcho?: 'server' | 'none';
  /** `FPVersion` written in _vti_inf.html; default `version`. SharePoint writes e.g. '14.00.0.000'. */
  fpVersion?: string;
  logger: Logger;
}

export interface RunningServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Stops listening and ends every open connection, long polls included. */
  close(): Promise<void>;
}

/**
 * Status for a method the server does not know. The spec names no code for this (§2.5 lists
 * none); 0x001E0006 "server incapable" from Alfresco's table is the closest — a GUESS.
 */
export const UNKNOWN_METHOD_STATUS = 0x001e0006;

/** Parameters of an RPC request body and the bytes after its first line (put document). */
export interface RpcRequest {
  params: Map<string, string>;
  /** Method name without version, e.g. `server version`. */
  method?: string;
  /** The version text after `:` in the method value, if any. */
  versionText?: string;
  /** Bytes after the first LF: the document of `put document` (§2.2, §4.12). */
  tail: Buffer;
}

/**
 * Reads the first body line as `name=value&…` (§2.2): `+` is a space, `%xx` decoded
 * (`%3a` `%2e` `%5f` as real Office sends them), a plain `:` taken as is. Undecodable
 * escapes are kept literally rather than failing the request.
 */
export function parseRpcRequest(body: Buffer): RpcRequest {
  const newline = body.indexOf(0x0a);
  const first = body.subarray(0, newline < 0 ? body.length : newline).toString('latin1').replace(/\r$/, '');
  const tail = newline < 0 ? Buffer.alloc(0) : body.subarray(newline + 1);
  const params = new Map<string, string>();
  for (const pair of first.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeFormComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (!params.has(name)) params.set(name, decodeFormComponent(eq < 0 ? '' : pair.slice(eq + 1)));
  }
  const methodValue = params.get('method');
  if (methodValue === undefined) return { params, tail };
  const colon = methodValue.indexOf(':');
  const method = (colon < 0 ? methodValue : methodValue.slice(0, colon)).trim();
  const versionText = colon < 0 ? undefined : methodValue.slice(colon + 1).trim();
  return { params, method, ...(versionText === undefined ? {} : { versionText }), tail };
}

function decodeFormComponent(text: string): string {
  const spaced = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
}

interface MethodContext {
  request: RpcRequest;
  server: Version;
}

/** Entries of each known method's answer (rules as data: one table, looked up by name). */
const METHODS: Record<string, (ctx: MethodContext) => RpcEntry[]> = {
  'url to web url': ({ request }) => {
    const url = request.params.get('url') ?? '/';
    return [
      { name: 'webUrl', value: '/' },
      { name: 'fileUrl', value: url.replace(/^\/+/, '') },
    ];
  },
  // §4.10: SharePoint's answer as SenseNet recorded it.
  'open service': ({ request }) => [
    {
      name: 'service',
      list: [
        { name: 'service_name', value: request.params.get('service_name') ?? '/' },
        {
          name: 'meta_info',
          list: [
            'vti_casesensitiveurls', 'IX|0',
            'vti_longfilenames', 'IX|1',
            'vti_welcomenames', 'VX|default.aspx index.html',
            'vti_username', 'SX|SIMULATED\\user',
            'vti_servertz', 'SX|+0000',
            'vti_sourcecontrolsystem', 'SR|lw',
            'vti_sourcecontrolversion', 'SR|V1',
            'vti_doclibwebviewenabled', 'IX|1',
          ],
        },
      ],
    },
  ],
  'list documents': () => [
    { name: 'document_list', list: [] },
    { name: 'urldirs', list: [{ name: 'url', value: 'Shared Documents' }] },
  ],
  'put document': ({ request }) => {
    const document = request.params.get('document') ?? '';
    const name = /document_name=([^;\]]*)/.exec(document)?.[1] ?? 'document';
    return [
      { name: 'message', value: `successfully put document '${name}' as '${name}'` },
      {
        name: 'document',
        list: [
          { name: 'document_name', value: name },
          { name: 'meta_info', list: ['vti_filesize', `IR|${request.tail.length}`] },
        ],
      },
    ];
  },
};

export async function startFpseServer(options: FpseServerOptions, listen: { host: string; port: number }): Promise<RunningServer> {
  const server = mustParse(options.version, 'version');
  const minClient = mustParse(options.minClient ?? OLDEST_COMPATIBLE_CLIENT, 'minClient');
  const fixedEcho = typeof options.echo === 'object' ? mustParse(options.echo.fixed, 'echo.fixed') : undefined;
  const log = options.logger.child({ simulator: 'fpse-server' });
  const rpcPaths = new Set([`/${DEFAULT_SCRIPT_URLS.shtml}`, `/${DEFAULT_SCRIPT_URLS.author}`].map((p) => p.toLowerCase()));

  function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, {
      'Cache-Control': 'no-cache',
      'Content-Type': contentType,
      Server: 'Microsoft-IIS/7.5',
      // §2.7: set by IIS configuration on SharePoint, echoing the product build.
      MicrosoftSharePointTeamServices: options.version,
      'X-Powered-By': 'ASP.NET',
      'Content-Length': String(Buffer.byteLength(body, 'latin1')),
    });
    res.end(body, 'latin1');
  }

  function answerRpc(request: RpcRequest): string {
    const method = request.method ?? '';
    const client = request.versionText === undefined || request.versionText === '' ? undefined : parseVersion(request.versionText);
    if (client !== undefined && !client.ok) log.warn({ method, version: client.text, problem: client.problem }, 'client version unreadable; answered as version-less');
    const clientVersion = client?.ok === true ? client.version : undefined;

    if (clientVersion !== undefined && compareVersions(clientVersion, minClient) < 0) {
      log.info({ method, client: clientVersion.text, minClient: minClient.text }, 'client too old');
      // SDK error format (§2.5) writes `method=method_name:server_version`; the real msg text is UNCONFIRMED.
      return formatErrorPacket({
        method,
        version: options.version,
        status: V_RPC_CLIENT_TOO_OLD,
        msg: `The client version ${clientVersion.text} is too old for this server; version ${minClient.text} or later is required.`,
      });
    }
    // MS-FPSE 3.1.5.3.14: the method line carries Min(client, server).
    const echo =
      fixedEcho?.text ??
      (clientVersion !== undefined ? minVersion(clientVersion, server).text : options.versionlessEcho === 'none' ? undefined : server.text);
    const version = echo === undefined ? {} : { version: echo };

    if (method.toLowerCase() === 'server version') {
      log.info({ method, client: clientVersion?.text, echo }, 'rpc answered');
      // FP2002 sends no `source control` line (§4.8); WSS 2.0 and later send 1 (§2.3).
      const sourceControl = server.parts[0]! >= 6 ? { sourceControl: 1 } : {};
      return formatServerVersionResponse({ ...version, server: server.parts, ...sourceControl });
    }
    const entries = Object.entries(METHODS).find(([name]) => name === method.toLowerCase())?.[1];
    if (entries === undefined) {
      log.info({ method }, 'unknown method');
      return formatErrorPacket({ method, ...version, status: UNKNOWN_METHOD_STATUS, msg: `The method "${method}" is not recognized.` });
    }
    log.info({ method, client: clientVersion?.text, echo }, 'rpc answered');
    return formatMethodResponse({ method, ...version, entries: entries({ request, server }) });
  }

  const httpServer = http.createServer((req, res) => {
    const path = originForm(req.url).split('?')[0]!.toLowerCase();
    if (req.method === 'GET' && path === '/_vti_inf.html') {
      req.resume();
      send(res, 200, 'text/html', formatVtiInfPage({ version: options.fpVersion ?? options.version }));
      return;
    }
    if (req.method === 'OPTIONS') {
      req.resume();
      // MS-WDVME 4.1.2 (§2.7).
      res.writeHead(200, {
        'MS-Author-Via': 'MS-FP/4.0,DAV',
        MicrosoftOfficeWebServer: '5.0_Collab',
        MicrosoftSharePointTeamServices: options.version,
        DAV: '1,2',
        'Content-Length': '0',
      });
      res.end();
      return;
    }
    if (req.method === 'POST' && rpcPaths.has(path)) {
      // Read the whole body first: put document carries the file after the parameter line.
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => send(res, 200, VERMEER_RPC_CONTENT_TYPE, answerRpc(parseRpcRequest(Buffer.concat(chunks)))));
      return;
    }
    req.resume();
    log.info({ method: req.method, path }, 'not found');
    send(res, 404, 'text/html', '<html><body><h1>404 Not Found</h1></body></html>\n');
  });
  return listenOn(httpServer, listen, log);
}

/** The path of a request target; an absolute-form target (RFC 9112 3.2.2) is accepted too, as IIS does. */
export function originForm(target: string | undefined): string {
  const url = target ?? '/';
  if (!/^https?:\/\//i.test(url)) return url;
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

function mustParse(text: string, what: string): Version {
  const result = parseVersion(text);
  if (!result.ok) throw new RangeError(`fpse server ${what} ${result.problem}`);
  return result.version;
}

/** Listens and returns the handle; close() also ends kept-alive connections. */
export async function listenOn(server: http.Server, listen: { host: string; port: number }, log: Logger): Promise<RunningServer> {
  // IIS keeps idle connections for 120 s; a simulated conversation must not lose its socket.
  server.keepAliveTimeout = 120000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${listen.host}:${port}`;
  log.info({ url }, 'simulator listening');
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

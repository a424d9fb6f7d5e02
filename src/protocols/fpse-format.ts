/**
 * Writes FrontPage RPC responses ("vermeer RPC packets", docs/protocols.md §2.4) and the
 * `_vti_inf.html` discovery page (§2.1). Pure formatting: no I/O, no decisions about versions;
 * the simulators and the rules feature decide what to say, this module says it the way
 * FPSE/SharePoint write it.
 *
 * Shape (§2.4): `<html><head><title>vermeer RPC packet</title></head>` LF `<body>` LF, then
 * `<p>method=<name>[:<version>]`, then `<p>name=value` entries, lists as `<p>name=` + `<ul>` …
 * `</ul>` with `<li>value` / `<li>name=value` items, then `</body>` LF `</html>` LF.
 * Lines end in a bare LF: SenseNet notes FrontPage clients require it (§2.3, [S26]).
 */

/** MS-FPSE 3.1.5.1 (§2.2): RPC responses MUST carry this Content-Type. */
export const VERMEER_RPC_CONTENT_TYPE = 'application/x-vermeer-rpc';

/** MC-FPSEWM 1.7.1 V_RPC_CLIENT_TOO_OLD (MS-FPSE: "error code (0x0004000C)"), §2.5 = 262156. */
export const V_RPC_CLIENT_TOO_OLD = 0x0004000c;

/** MS-FPSE 1.7.1 (§2.6): servers reject clients earlier than this. */
export const OLDEST_COMPATIBLE_CLIENT = '4.0.2.2611';

/** MS-FPSE 1.7.1 (§2.6): clients silently ignore servers earlier than this. */
export const OLDEST_SUPPORTED_SERVER = '3.0.2.1002';

/** One item of a `<ul>` list: a bare value, a `name=value` pair, or a nested named list. */
export type RpcItem = string | RpcEntry;

/** A top-level or nested entry: `name=value`, or `name=` followed by a `<ul>` list. */
export type RpcEntry = { name: string; value: string | number } | { name: string; list: readonly RpcItem[] };

export interface MethodResponse {
  /** Method name as the client wrote it, e.g. `server version`. */
  method: string;
  /** Version for the method line; absent = `method=<name>` alone (the FP2002 answer of §4.8). */
  version?: string;
  /** Entries after the method line, in order. */
  entries: readonly RpcEntry[];
}

const HEAD = '<html><head><title>vermeer RPC packet</title></head>\n<body>\n';
const TAIL = '</body>\n</html>\n';

/**
 * Values are HTML text inside the packet, so the characters that would end a tag or an entity
 * are escaped. Which further characters real servers escape (`:` as `&#58;`?) is UNCONFIRMED;
 * the spec examples (§2.3, §4.10) only need these four.
 */
export function escapeRpcValue(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** `method=<name>` or `method=<name>:<version>` (§2.4: first line of every packet). */
export function formatMethodValue(method: string, version?: string): string {
  return version === undefined || version === '' ? method : `${method}:${version}`;
}

/** A whole packet: head, method line, entries, tail. */
export function formatMethodResponse(response: MethodResponse): string {
  const lines = [`<p>method=${escapeRpcValue(formatMethodValue(response.method, response.version))}`];
  for (const entry of response.entries) writeEntry(lines, entry, 'p');
  return `${HEAD}${lines.join('\n')}\n${TAIL}`;
}

function writeEntry(lines: string[], entry: RpcEntry, tag: 'p' | 'li'): void {
  if ('list' in entry) {
    lines.push(`<${tag}>${escapeRpcValue(entry.name)}=`, '<ul>');
    for (const item of entry.list) {
      if (typeof item === 'string') lines.push(`<li>${escapeRpcValue(item)}`);
      else writeEntry(lines, item, 'li');
    }
    lines.push('</ul>');
  } else {
    lines.push(`<${tag}>${escapeRpcValue(entry.name)}=${escapeRpcValue(String(entry.value))}`);
  }
}

export interface ServerVersionResponse {
  /** The effective protocol version for the method line (MS-FPSE 3.1.5.3.14: Min(client, server)); absent = none. */
  version?: string;
  /** The server's actual build, major.minor.phase.incr. */
  server: readonly number[];
  /** `source control=` line; absent = no line (FP2002 sends none, §4.8). Any non-zero means 1. */
  sourceControl?: number;
}

/**
 * The `server version` answer (§2.3): `server version=` list with `major ver`, `minor ver`,
 * `phase ver`, `ver incr` (wire key with a space, not the SDK's `verincr`).
 */
export function formatServerVersionResponse(response: ServerVersionResponse): string {
  const [major = 0, minor = 0, phase = 0, incr = 0] = response.server;
  const entries: RpcEntry[] = [
    {
      name: 'server version',
      list: [
        { name: 'major ver', value: major },
        { name: 'minor ver', value: minor },
        { name: 'phase ver', value: phase },
        { name: 'ver incr', value: incr },
      ],
    },
  ];
  if (response.sourceControl !== undefined) entries.push({ name: 'source control', value: response.sourceControl });
  return formatMethodResponse({ method: 'server version', ...(response.version === undefined ? {} : { version: response.version }), entries });
}

export interface ErrorPacket {
  method: string;
  /** SDK error format (§2.5): `method=method_name:server_version`. */
  version?: string;
  /** Decimal on the wire, e.g. 262156 for V_RPC_CLIENT_TOO_OLD. */
  status: number;
  osstatus?: number;
  msg: string;
  osmsg?: string;
}

/** The error packet of §2.5 (Alfresco wire form, parsed by HubKey): a `status=` list. */
export function formatErrorPacket(error: ErrorPacket): string {
  return formatMethodResponse({
    method: error.method,
    ...(error.version === undefined ? {} : { version: error.version }),
    entries: [
      {
        name: 'status',
        list: [
          { name: 'status', value: error.status },
          { name: 'osstatus', value: error.osstatus ?? 0 },
          { name: 'msg', value: error.msg },
          { name: 'osmsg', value: error.osmsg ?? '' },
        ],
      },
    ],
  });
}

export interface VtiInfPage {
  /** Written as given, e.g. `14.00.0.000` (SharePoint) or `5.0.2.4330` (Unix FPSE 2002). */
  version: string;
  shtmlScriptUrl?: string;
  authorScriptUrl?: string;
  adminScriptUrl?: string;
  tpScriptUrl?: string;
}

/** The IIS/SharePoint script paths of §2.1, relative to the web root. */
export const DEFAULT_SCRIPT_URLS = Object.freeze({
  shtml: '_vti_bin/shtml.dll/_vti_rpc',
  author: '_vti_bin/_vti_aut/author.dll',
  admin: '_vti_bin/_vti_adm/admin.dll',
  tp: '_vti_bin/owssvr.dll',
});

/**
 * `_vti_inf.html` (§2.1). The comment block keeps exactly the spec's key order, one key per LF
 * line and the leading space before FPVersion, because HubKey's client reads it with a regex
 * that expects that order [S21]. The surrounding HTML is not specified; a plain page is used.
 */
export function formatVtiInfPage(page: VtiInfPage): string {
  return [
    '<html><head><meta name="GENERATOR" content="Microsoft SharePoint"><title>FrontPage Configuration Information</title></head><body>',
    '<!-- FrontPage Configuration Information',
    ` FPVersion="${page.version}"`,
    `FPShtmlScriptUrl="${page.shtmlScriptUrl ?? DEFAULT_SCRIPT_URLS.shtml}"`,
    `FPAuthorScriptUrl="${page.authorScriptUrl ?? DEFAULT_SCRIPT_URLS.author}"`,
    `FPAdminScriptUrl="${page.adminScriptUrl ?? DEFAULT_SCRIPT_URLS.admin}"`,
    `TPScriptUrl="${page.tpScriptUrl ?? DEFAULT_SCRIPT_URLS.tp}"`,
    '-->',
    '</body></html>',
    '',
  ].join('\n');
}

/**
 * The small-response load: wrk with keep-alive connections against one subject. A Lua script
 * (written under .bench/ at run time) prints the numbers as JSON from wrk's done() callback, and
 * in forward mode makes wrk send absolute-form requests (`GET http://127.0.0.1:UP/small`), which
 * is what a client configured with a proxy sends.
 *
 * With `mapi`, every request is a MAPI/HTTP Execute as Outlook sends it (POST to
 * /mapi/emsmdb/?MailboxId=…, the X-* headers and cookies of a session, a small binary body),
 * which the upstream answers like Exchange (chunked, meta-tags, a 1 KiB body).
 *
 * With `mapi-plain`, the same request with the same byte count, changed only where the proxy's
 * MAPI/HTTP observer decides whether to claim it (path /pass/emsmdb/ instead of /mapi/emsmdb/,
 * Content-Type application/octet-stream, X-RequestTypf instead of X-RequestType, one header value
 * shortened to keep the size): the upstream answers it with the very same bytes, so the two rows
 * differ only in whether the observer parses the exchange.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runTool } from './proc.js';

export interface WrkOptions {
  wrk: string;
  /** Where wrk connects: the subject (or the upstream, for direct). */
  connectPort: number;
  /** Forward mode: the upstream the absolute-form requests name. */
  forwardTo?: number;
  connections: number;
  threads: number;
  seconds: number;
  /** Directory for the generated Lua script. */
  workDir: string;
  /** What to send: `GET /small` (the default), MAPI/HTTP Execute requests, or the same bytes
   * disguised so that the proxy's MAPI/HTTP observer does not claim them. */
  traffic?: Traffic;
}

export type Traffic = 'small' | 'mapi' | 'mapi-plain';

export interface WrkResult {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  rps: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
  maxUs: number;
  /** Set when the run counts but had errors worth a footnote. */
  warning?: string;
}

const SMALL_PATH = '/small';
const MAILBOX = '?MailboxId=0e2dcbf4-7d6b-4a46-9a7b-3f7bd8f49e3a@contoso.com';
const MAPI_PATH = `/mapi/emsmdb/${MAILBOX}`;
// Same length as MAPI_PATH (the request line and the proxy's log line keep their size), but not
// one of the MAPI/HTTP endpoints; the upstream serves it exactly as /mapi/emsmdb/.
const MAPI_PLAIN_PATH = `/pass/emsmdb/${MAILBOX}`;
const BODY_BYTES = 1024;
const MARK = 'WRK_JSON ';

/**
 * A 40-byte Execute request body (MS-OXCMAPIHTTP 2.2.4.2.1): Flags 0, RopBufferSize 24, a
 * 24-byte ROP buffer, MaxRopOut 0x10008, AuxiliaryBufferSize 0; as a Lua string of \ddd escapes.
 */
function mapiBodyLua(): string {
  const body = Buffer.alloc(40);
  body.writeUInt32LE(0, 0);
  body.writeUInt32LE(24, 4);
  for (let i = 0; i < 24; i++) body[8 + i] = (i * 7 + 1) & 0xff;
  body.writeUInt32LE(0x10008, 32);
  body.writeUInt32LE(0, 36);
  return [...body].map((b) => `\\${String(b).padStart(3, '0')}`).join('');
}

const MAPI_HEADERS: [string, string][] = [
  ['Content-Type', 'application/mapi-http'],
  ['X-RequestType', 'Execute'],
  ['X-ClientApplication', 'Outlook/16.0.15928.20006'],
  ['X-RequestId', '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1'],
  ['X-ClientInfo', '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:1'],
  ['Cookie', 'MapiContext=abc; MapiSequence=1'],
];

/**
 * The unobserved baseline: what the observer's claim looks at (src/protocols/mapihttp.ts
 * claimsMapiHttp: the path, Content-Type application/mapi-http, an X-RequestType header) is
 * changed, nothing else. application/octet-stream is 3 bytes longer than application/mapi-http,
 * so X-ClientApplication's value is 3 bytes shorter: the request keeps its exact size.
 */
const MAPI_PLAIN_HEADERS: [string, string][] = [
  ['Content-Type', 'application/octet-stream'],
  ['X-RequestTypf', 'Execute'],
  ['X-ClientApplication', 'Outlook/16.0.15928.20'],
  ['X-RequestId', '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1'],
  ['X-ClientInfo', '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:1'],
  ['Cookie', 'MapiContext=abc; MapiSequence=1'],
];

const headBytes = (target: string, headers: [string, string][]): number =>
  target.length + headers.reduce((n, [name, value]) => n + name.length + value.length + 4, 0);
// The two MAPI-shaped rows are compared byte for byte: a mismatch here is a harness bug.
if (headBytes(MAPI_PATH, MAPI_HEADERS) !== headBytes(MAPI_PLAIN_PATH, MAPI_PLAIN_HEADERS) || MAPI_HEADERS.length !== MAPI_PLAIN_HEADERS.length) {
  throw new Error('bench/wrk.ts: the unobserved MAPI-shaped request must be exactly as long as the MAPI one');
}

function targetOf(traffic: Traffic): string {
  return traffic === 'mapi' ? MAPI_PATH : traffic === 'mapi-plain' ? MAPI_PLAIN_PATH : SMALL_PATH;
}

function luaScript(forwardTo: number | undefined, traffic: Traffic): string {
  const target = targetOf(traffic);
  const headers = traffic === 'mapi' ? MAPI_HEADERS : MAPI_PLAIN_HEADERS;
  const forward =
    forwardTo === undefined
      ? '-- origin mode: wrk sends origin-form requests to the subject as if it were the upstream\n'
      : [
          '-- forward mode: absolute-form request line, Host naming the upstream, as proxy clients send',
          `wrk.path = "http://127.0.0.1:${forwardTo}${target}"`,
          `wrk.headers["Host"] = "127.0.0.1:${forwardTo}"`,
          '',
        ].join('\n');
  const request = traffic !== 'small'
    ? [
        traffic === 'mapi'
          ? '-- MAPI/HTTP Execute, as Outlook sends it (wrk adds Content-Length for the body)'
          : '-- the same Execute bytes, disguised so that the MAPI/HTTP observer does not claim them',
        'wrk.method = "POST"',
        ...(forwardTo === undefined ? [`wrk.path = "${target}"`] : []),
        ...headers.map(([name, value]) => `wrk.headers["${name}"] = "${value}"`),
        `wrk.body = "${mapiBodyLua()}"`,
        '',
      ].join('\n')
    : '';
  // %.0f rather than %d: LuaJIT numbers are doubles and some builds refuse %d on them.
  return `${forward}${request}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${MARK}{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"mean_us":%.1f,"max_us":%.0f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
`;
}

interface RawWrk {
  requests: number;
  duration_us: number;
  bytes: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
  max_us: number;
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const traffic = options.traffic ?? 'small';
  const script = path.join(options.workDir, `${options.forwardTo === undefined ? 'wrk-origin' : 'wrk-forward'}${traffic === 'small' ? '' : `-${traffic}`}.lua`);
  fs.writeFileSync(script, luaScript(options.forwardTo, traffic));
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    // Slow answers belong in the latency numbers, not in wrk's timeout count (default 2 s).
    '--timeout',
    '10s',
    '-s',
    script,
    `http://127.0.0.1:${options.connectPort}${targetOf(traffic)}`,
  ];
  const result = await runTool(options.wrk, args, (options.seconds + 30) * 1000);
  if (result.timedOut) throw new Error(`wrk did not finish within ${options.seconds + 30} s`);
  const line = result.stdout.split('\n').find((l) => l.startsWith(MARK));
  if (result.code !== 0 || line === undefined) {
    throw new Error(`wrk failed (exit ${String(result.code ?? result.signal)}): ${(result.stderr || result.stdout).trim().slice(0, 300)}`);
  }
  const raw = JSON.parse(line.slice(MARK.length)) as RawWrk;
  return check({
    requests: raw.requests,
    durationUs: raw.duration_us,
    bytes: raw.bytes,
    errors: { connect: raw.connect, read: raw.read, write: raw.write, status: raw.status, timeout: raw.timeout },
    rps: raw.requests / (raw.duration_us / 1e6),
    p50Us: raw.p50_us,
    p90Us: raw.p90_us,
    p99Us: raw.p99_us,
    meanUs: raw.mean_us,
    maxUs: raw.max_us,
  });
}

/**
 * A subject that answers fast with errors must not score: more than 1% non-2xx/3xx answers or
 * socket errors, or fewer bytes than 1 KiB per answer, fails the row; fewer errors are kept
 * with a warning.
 */
function check(r: WrkResult): WrkResult {
  const { connect, read, write, status, timeout } = r.errors;
  const socketErrors = connect + read + write + timeout;
  if (r.requests === 0) throw new Error(`no request completed (socket errors: connect ${connect}, read ${read}, write ${write}, timeout ${timeout})`);
  if (r.bytes < r.requests * BODY_BYTES) throw new Error(`only ${r.bytes} bytes for ${r.requests} answers (< 1 KiB each): bodies were cut`);
  if (status > r.requests * 0.01) throw new Error(`${status} of ${r.requests} answers were not 2xx/3xx`);
  if (socketErrors > r.requests * 0.01) {
    throw new Error(`${socketErrors} socket errors for ${r.requests} answers (connect ${connect}, read ${read}, write ${write}, timeout ${timeout})`);
  }
  if (status + socketErrors > 0) {
    r.warning = `${status} non-2xx answers, socket errors connect ${connect} read ${read} write ${write} timeout ${timeout}`;
  }
  return r;
}

/** `wrk 4.1.0 [epoll] …`, for the record. */
export async function wrkVersion(wrk: string): Promise<string> {
  const result = await runTool(wrk, ['--version'], 5000).catch(() => undefined);
  return (result?.stdout ?? '').split('\n')[0]?.trim() ?? '';
}

/**
 * The small-response load: wrk with keep-alive connections against one subject. A Lua script
 * (written under .bench/ at run time) prints the numbers as JSON from wrk's done() callback, and
 * in forward mode makes wrk send absolute-form requests (`GET http://127.0.0.1:UP/small`), which
 * is what a client configured with a proxy sends.
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
}

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

const PATH = '/small';
const BODY_BYTES = 1024;
const MARK = 'WRK_JSON ';

function luaScript(forwardTo: number | undefined): string {
  const forward =
    forwardTo === undefined
      ? '-- origin mode: wrk sends origin-form requests to the subject as if it were the upstream\n'
      : [
          '-- forward mode: absolute-form request line, Host naming the upstream, as proxy clients send',
          `wrk.path = "http://127.0.0.1:${forwardTo}${PATH}"`,
          `wrk.headers["Host"] = "127.0.0.1:${forwardTo}"`,
          '',
        ].join('\n');
  // %.0f rather than %d: LuaJIT numbers are doubles and some builds refuse %d on them.
  return `${forward}
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
  const script = path.join(options.workDir, options.forwardTo === undefined ? 'wrk-origin.lua' : 'wrk-forward.lua');
  fs.writeFileSync(script, luaScript(options.forwardTo));
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    // Slow answers belong in the latency numbers, not in wrk's timeout count (default 2 s).
    '--timeout',
    '10s',
    '-s',
    script,
    `http://127.0.0.1:${options.connectPort}${PATH}`,
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

/**
 * What the HTTPS rows and probes of issue 5 share on the harness side: the HTTPS upstream
 * (bench/https-upstream.ts) with its throwaway test CA, a fresh CA directory for each proxy
 * started, the proxy's CA as the client must trust it, and the keep-alive load of the HTTPS rows
 * (bench/https-load.ts, a process of its own).
 *
 * Everything lives under one temporary directory (`os.tmpdir()/version-proxy-bench-…`), removed
 * when the harness ends: never ~/.version-proxy.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOAD_MARK, type LoadConfig, type LoadReport, type PoolName, type PoolResult } from './https-load.js';
import type { BenchConfig, SubjectRun } from './measure.js';
import { isRunning, runTool, startService, stopService, waitForListening, type Service } from './proc.js';
import type { Context, Running, Subject } from './subjects.js';
import type { WrkResult } from './wrk.js';

export interface HttpsUpstream {
  /** 127.0.0.1 port of the keep-alive load (certificate for 127.0.0.1 and localhost). */
  port: number;
  /** Port on every IPv4 address for the new-host probes: a certificate per host address. */
  hostsPort: number;
  /** Host addresses it has certificates for (https-client.ts hostAddress(0 … hosts-1)). */
  hosts: number;
  /** Its test CA (PEM file), for --upstream-ca. */
  caFile: string;
  /** The temporary directory of the HTTPS rows and probes (CA directories, mitmproxy confdirs). */
  dir: string;
  service: Service;
}

const START_TIMEOUT_MS = 60_000;

let tempRoot: string | undefined;

/** The temporary directory for this harness run (created on first need). */
export function httpsTempDir(): string {
  tempRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), 'version-proxy-bench-'));
  return tempRoot;
}

/** Removes the temporary directory (CA keys included); synchronous, for process.on('exit'). */
export function removeHttpsTempDir(): void {
  if (tempRoot === undefined) return;
  try {
    fs.rmSync(tempRoot, { recursive: true, force: true });
  } catch {
    // Best effort on the way out.
  }
  tempRoot = undefined;
}

/** Starts bench/https-upstream.ts with certificates for `hosts` host addresses (issued before it listens). */
export async function startHttpsUpstream(root: string, workDir: string, hosts: number): Promise<HttpsUpstream> {
  const dir = httpsTempDir();
  const service = startService('https-upstream', process.execPath, [path.join(root, 'dist', 'bench', 'https-upstream.js'), dir, String(hosts)], path.join(workDir, 'https-upstream.log'));
  try {
    const port = await waitForListening(service, START_TIMEOUT_MS);
    const line = fs
      .readFileSync(service.logFile, 'utf8')
      .split('\n')
      .find((l) => l.includes('"hostsPort"'));
    const parsed = JSON.parse(line ?? '{}') as { hostsPort?: number; ca?: string };
    if (typeof parsed.hostsPort !== 'number' || typeof parsed.ca !== 'string') throw new Error(`https-upstream: no hostsPort/ca in its listening line: ${line ?? ''}`);
    return { port, hostsPort: parsed.hostsPort, hosts, caFile: parsed.ca, dir, service };
  } catch (err) {
    await stopService(service, 2000);
    throw err;
  }
}

/** A new, empty CA directory (mode 0700, as the proxy wants it) for one proxy process. */
export function freshCaDir(https: HttpsUpstream, name: string): string {
  return fs.mkdtempSync(path.join(https.dir, `ca-${name}-`));
}

/** `./proxy ca --ca-dir DIR`: creates the CA there and returns its certificate (PEM), as a user would get it. */
export async function proxyCaPem(root: string, caDir: string): Promise<string> {
  const result = await runTool(path.join(root, 'proxy'), ['ca', '--ca-dir', caDir], 60_000);
  if (result.code !== 0 || !result.stdout.includes('BEGIN CERTIFICATE')) {
    throw new Error(`./proxy ca --ca-dir ${caDir} failed (exit ${String(result.code ?? result.signal)}): ${result.stderr.trim().slice(0, 300)}`);
  }
  return result.stdout;
}

/**
 * The options our proxy gets in the HTTPS rows and probes: those of the `forward` row
 * (subjects.ts PROXY_START, --no-record included: these rows measure pass-through), then the CA.
 */
export function httpsProxyArgs(caDir: string, https: HttpsUpstream): string[] {
  return ['start', '--listen', '127.0.0.1:0', '--log-level', 'info', '--no-record', '--no-control', '--ca-dir', caDir, '--upstream-ca', https.caFile];
}

/** mitmproxy writes its CA here on its first start in a fresh confdir. */
export async function waitForMitmproxyCa(confdir: string, service: Service, timeoutMs: number): Promise<string> {
  const file = path.join(confdir, 'mitmproxy-ca-cert.pem');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fs.existsSync(file)) {
      const pem = fs.readFileSync(file, 'utf8');
      if (pem.includes('END CERTIFICATE')) return pem;
    }
    if (!isRunning(service)) throw new Error('mitmdump exited before writing its CA');
    await sleep(100);
  }
  throw new Error(`mitmdump did not write ${file} within ${timeoutMs / 1000} s`);
}

// --- the keep-alive load of the HTTPS rows -------------------------------------------------------

/** Fewer bytes than this per answer means bodies were cut (the upstreams' body is 1 KiB). */
const BODY_BYTES = 1024;

export interface HttpsLoad {
  /** Which pool had the first and last segment (ABBA). */
  first: PoolName;
  plain: PoolResult;
  https: PoolResult;
  segments: LoadReport['segments'];
}

/**
 * The HTTPS rows' load phase: bench/https-load.ts against the running subject, plain and HTTPS
 * alternating, and the result in the shape the table reads (`load` is the HTTPS side, `https`
 * keeps both). A pool with more than 1% errors, or bodies cut, fails the phase as wrk's does.
 */
export async function measureHttpsLoad(subject: Subject, running: Running, ctx: Context, cfg: BenchConfig, run: number, result: SubjectRun, log: (line: string) => void): Promise<void> {
  const https = ctx.https;
  if (https === undefined) throw new Error('the HTTPS upstream is not running');
  if (running.clientCa === undefined) throw new Error(`${subject.label}: no CA for the client to trust`);
  const first: PoolName = run % 2 === 1 ? 'https' : 'plain';
  const config: LoadConfig = {
    proxyPort: running.port,
    ...(running.pid !== undefined && { proxyPid: running.pid }),
    plainTarget: { host: '127.0.0.1', port: ctx.upstreamPort },
    httpsTarget: { host: '127.0.0.1', port: https.port },
    caPem: running.clientCa,
    connections: cfg.connections,
    warmupSeconds: cfg.warmupSeconds,
    segmentSeconds: cfg.loadSeconds / 2,
    first,
  };
  const limitS = 2 * cfg.warmupSeconds + 2 * cfg.loadSeconds + 120;
  const out = await runTool(process.execPath, [path.join(ctx.root, 'dist', 'bench', 'https-load.js'), JSON.stringify(config)], limitS * 1000);
  if (out.timedOut) throw new Error(`the HTTPS load generator did not finish within ${limitS} s`);
  const line = out.stdout.split('\n').find((l) => l.startsWith(LOAD_MARK));
  if (out.code !== 0 || line === undefined) throw new Error(`the HTTPS load generator failed (exit ${String(out.code ?? out.signal)}): ${(out.stderr || out.stdout).trim().slice(0, 300)}`);
  const report = JSON.parse(line.slice(LOAD_MARK.length)) as LoadReport;
  result.https = { first, plain: report.plain, https: report.https, segments: report.segments };
  if (report.rssPeak !== undefined) result.rssLoad = report.rssPeak;
  const problems = (['https', 'plain'] as const).flatMap((pool) => {
    const p = checkPool(report[pool]);
    return p === undefined ? [] : [`${pool === 'https' ? 'HTTPS' : 'plain HTTP'}: ${p}`];
  });
  for (const pool of ['https', 'plain'] as const) {
    const w = report[pool].warning;
    if (w !== undefined) result.notes.push(`${pool === 'https' ? 'HTTPS' : 'plain HTTP'} load: ${w}`);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  result.load = asWrk(report.https);
  if (report.https.proxyCpu !== undefined) result.cpuLoad = report.https.proxyCpu;
  const line1 = (name: string, p: PoolResult): string => {
    const cpu = p.proxyCpu === undefined ? '' : `, ${((p.proxyCpu / p.requests) * 1e6).toFixed(0)} µs CPU/request`;
    return `${name} ${Math.round(p.rps)} req/s, p50 ${(p.p50Us / 1000).toFixed(2)} ms, p99 ${(p.p99Us / 1000).toFixed(2)} ms${cpu}, client ${(p.clientCpu / (p.durationUs / 1e6)).toFixed(2)} CPU`;
  };
  log(`  ${subject.label}: ${line1('HTTPS', report.https)}`);
  log(`  ${subject.label}: ${line1('plain HTTP (same client)', report.plain)}`);
}

function checkPool(p: PoolResult): string | undefined {
  const { connect, read, write, status, timeout } = p.errors;
  const socketErrors = connect + read + write + timeout;
  if (p.requests === 0) return `no request completed (${p.warning ?? 'no answer'})`;
  if (p.bytes < p.requests * BODY_BYTES) return `only ${p.bytes} bytes for ${p.requests} answers (< 1 KiB each): bodies were cut`;
  if (status > p.requests * 0.01) return `${status} of ${p.requests} answers were not 2xx/3xx (${p.warning ?? ''})`;
  if (socketErrors > p.requests * 0.01) return `${socketErrors} socket errors for ${p.requests} answers (${p.warning ?? ''})`;
  return undefined;
}

function asWrk(p: PoolResult): WrkResult {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the client-only fields are dropped
  const { proxyCpu, clientCpu, reconnects, openMs, ...wrk } = p;
  return wrk;
}

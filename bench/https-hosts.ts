/**
 * Issue 5's new-host probes: what an intercepting proxy pays for a host it has not seen yet.
 *
 * `https-new-host`: "first request to a new host (certificate issue + both handshakes) ≤ 30 ms
 * median over 200 hosts". A fresh proxy (started as the `forward-https` row's: fresh CA
 * directory, --upstream-ca with the HTTPS upstream's test CA) is visited by distinct hosts one
 * after another: for each, the client opens a new connection, sends `CONNECT 127.0.x.y:PORT`
 * (https-client.ts hostAddress), does TLS trusting only the proxy's CA, and sends `GET /small`.
 * Its time runs from the CONNECT being written to the first byte of the answer, so it holds the
 * proxy's leaf issue (it answers CONNECT once it has the leaf), the client's handshake with the
 * proxy, and the proxy's TCP connection, TLS handshake and certificate check with that host's
 * upstream, and the request itself. A few untimed hosts come first (JIT, the CA opened). Each
 * answer must be 200 from the address asked for (`X-Local-Address`), so a proxy that reached the
 * wrong host cannot score; only the proxy's CA is trusted, so one that did not intercept fails.
 *
 * `https-hosts-rss`: "peak RSS after 1,000 distinct hosts < 200 MB". Another fresh proxy, 1,000
 * distinct hosts, one request each on a connection of its own, a few in flight at once (as a
 * browser opening a page full of hosts does), connections closed after their answer; then the
 * proxy's peak RSS since it started (VmHWM, never reset here), and its RSS at that moment.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { hostAddress, HttpConnection, openTunnel, originRequest, secure, type Target } from './https-client.js';
import { freshCaDir, httpsProxyArgs, proxyCaPem, type HttpsUpstream } from './https.js';
import type { BenchConfig } from './measure.js';
import { percentile, scanProxyLog } from './probe-kit.js';
import { peakRss } from './rss.js';
import { proxyService, type Context, type Running } from './subjects.js';

const STEP_TIMEOUT_MS = 15_000;

/** One host's first request, ms from the CONNECT written. */
export interface HostTiming {
  /** The proxy answered 200 to CONNECT (it had the leaf). */
  connectMs: number;
  /** The client's TLS handshake with the proxy done. */
  tlsMs: number;
  /** The answer's first byte (the proxy's upstream connection and handshake, and the request). */
  firstByteMs: number;
}

export interface NewHostRun {
  probe: 'https-new-host';
  run: number;
  error?: string;
  /** Timed hosts that answered, and those asked. */
  hosts: number;
  asked: number;
  warmup: number;
  /** Per-host timings, ms: medians and tails of each step (cumulative from the CONNECT). */
  p50?: HostTiming;
  p90FirstByteMs?: number;
  p99FirstByteMs?: number;
  maxFirstByteMs?: number;
  /** Median of the step times themselves: issue, client handshake, upstream + request. */
  steps?: { issueMs: number; clientTlsMs: number; upstreamMs: number };
  notes: string[];
}

export interface HostsRssRun {
  probe: 'https-hosts-rss';
  run: number;
  error?: string;
  hosts: number;
  asked: number;
  concurrency: number;
  /** Bytes: the proxy's RSS once started (before any host), its peak since start after the hosts, its RSS then. */
  rssStart?: number;
  rssPeak?: number;
  rssEnd?: number;
  seconds?: number;
  notes: string[];
}

/** The HTTPS exchange lines (`"url":"https://…`) in the proxy's log: one per host expected. */
function httpsExchanges(file: string | undefined): number {
  if (file === undefined || !fs.existsSync(file)) return 0;
  let n = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) if (line.includes('"msg":"exchange"') && line.includes('"url":"https://')) n++;
  return n;
}

function vmRss(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface Visit {
  timing: HostTiming;
}

/** One new host: CONNECT, TLS, one GET, close; checks the answer came from that host. */
async function visit(proxyPort: number, target: Target, context: tls.SecureContext): Promise<Visit> {
  const start = performance.now();
  const tunnel = await openTunnel(proxyPort, target, STEP_TIMEOUT_MS);
  const connected = performance.now();
  const socket = await secure(tunnel, target, context, STEP_TIMEOUT_MS);
  const secured = performance.now();
  const conn = new HttpConnection(socket);
  try {
    const answer = await conn.request(originRequest(target, '/small'), true);
    if (answer.status !== 200) throw new Error(`${target.host}: status ${answer.status}`);
    const served = /\r\nx-local-address:[ \t]*([^\r\n]*)/i.exec(answer.head)?.[1]?.trim();
    if (served !== target.host) throw new Error(`${target.host}: answered by ${served ?? 'an upstream without X-Local-Address'} (the proxy reached another host)`);
    return { timing: { connectMs: connected - start, tlsMs: secured - start, firstByteMs: answer.firstByteAt - start } };
  } finally {
    conn.close();
  }
}

async function startHostsProxy(ctx: Context, https: HttpsUpstream, name: string): Promise<{ running: Running; ca: tls.SecureContext }> {
  const caDir = freshCaDir(https, name);
  const caPem = await proxyCaPem(ctx.root, caDir);
  const running = await proxyService(ctx, `proxy-${name}`, httpsProxyArgs(caDir, https));
  return { running, ca: tls.createSecureContext({ ca: caPem }) };
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function logNotes(running: Running, notes: string[], expected: number): void {
  const counts = scanProxyLog(running.service?.logFile);
  if (counts.warnings > 0) notes.push(`the proxy's log has ${counts.warnings} warn/error line(s), first: ${counts.firstWarning ?? ''}`);
  const seen = httpsExchanges(running.service?.logFile);
  if (seen < expected) notes.push(`the proxy's log has ${seen} https:// exchange lines for ${expected} hosts answered`);
}

export async function measureNewHost(ctx: Context, cfg: BenchConfig, run: number, log: (line: string) => void): Promise<NewHostRun> {
  const result: NewHostRun = { probe: 'https-new-host', run, hosts: 0, asked: cfg.newHosts, warmup: cfg.hostsWarmup, notes: [] };
  const https = ctx.https;
  if (https === undefined) return { ...result, error: 'the HTTPS upstream is not running' };
  let started: Awaited<ReturnType<typeof startHostsProxy>>;
  try {
    started = await startHostsProxy(ctx, https, 'https-new-host');
  } catch (err) {
    return { ...result, error: `could not start the proxy: ${message(err)}` };
  }
  const { running, ca } = started;
  const target = (i: number): Target => ({ host: hostAddress(i), port: https.hostsPort });
  const timings: HostTiming[] = [];
  try {
    // Warm-up hosts come after the timed ones in the address range: every timed host is new.
    for (let i = 0; i < cfg.hostsWarmup; i++) await visit(running.port, target(cfg.newHosts + i), ca);
    for (let i = 0; i < cfg.newHosts; i++) timings.push((await visit(running.port, target(i), ca)).timing);
  } catch (err) {
    result.error = message(err);
  } finally {
    const note = await running.stop();
    if (note !== undefined) result.notes.push(`the proxy ${note}`);
  }
  result.hosts = timings.length;
  logNotes(running, result.notes, cfg.hostsWarmup + timings.length);
  if (result.error !== undefined) {
    log(`  new-host probe failed after ${timings.length} hosts: ${result.error}`);
    return result;
  }
  const p = (values: number[], q: number): number => percentile(values, q) ?? NaN;
  const first = timings.map((t) => t.firstByteMs);
  result.p50 = { connectMs: p(timings.map((t) => t.connectMs), 50), tlsMs: p(timings.map((t) => t.tlsMs), 50), firstByteMs: p(first, 50) };
  result.p90FirstByteMs = p(first, 90);
  result.p99FirstByteMs = p(first, 99);
  result.maxFirstByteMs = Math.max(...first);
  result.steps = {
    issueMs: p(timings.map((t) => t.connectMs), 50),
    clientTlsMs: p(timings.map((t) => t.tlsMs - t.connectMs), 50),
    upstreamMs: p(timings.map((t) => t.firstByteMs - t.tlsMs), 50),
  };
  const s = result.steps;
  log(
    `  new host, CONNECT to first byte: median ${result.p50.firstByteMs.toFixed(2)} ms, p90 ${result.p90FirstByteMs.toFixed(2)}, max ${result.maxFirstByteMs.toFixed(2)} ` +
      `(${timings.length} hosts; steps, medians: CONNECT answered ${s.issueMs.toFixed(2)} ms, client TLS ${s.clientTlsMs.toFixed(2)} ms, upstream + request ${s.upstreamMs.toFixed(2)} ms)`,
  );
  return result;
}

export async function measureHostsRss(ctx: Context, cfg: BenchConfig, run: number, log: (line: string) => void): Promise<HostsRssRun> {
  const result: HostsRssRun = { probe: 'https-hosts-rss', run, hosts: 0, asked: cfg.rssHosts, concurrency: cfg.rssConcurrency, notes: [] };
  const https = ctx.https;
  if (https === undefined) return { ...result, error: 'the HTTPS upstream is not running' };
  let started: Awaited<ReturnType<typeof startHostsProxy>>;
  try {
    started = await startHostsProxy(ctx, https, 'https-hosts-rss');
  } catch (err) {
    return { ...result, error: `could not start the proxy: ${message(err)}` };
  }
  const { running, ca } = started;
  const pid = running.pid!;
  const startedAt = performance.now();
  try {
    const rssStart = vmRss(pid);
    if (rssStart !== undefined) result.rssStart = rssStart;
    let next = 0;
    let failure: Error | undefined;
    const worker = async (): Promise<void> => {
      while (next < cfg.rssHosts && failure === undefined) {
        const i = next++;
        try {
          await visit(running.port, { host: hostAddress(i), port: https.hostsPort }, ca);
          result.hosts++;
        } catch (err) {
          failure ??= err instanceof Error ? err : new Error(String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: cfg.rssConcurrency }, worker));
    if (failure !== undefined) throw failure;
    result.seconds = (performance.now() - startedAt) / 1000;
    // Peak since the proxy started: the CA opened, a leaf and a context per host, every handshake.
    const peak = peakRss(pid);
    const end = vmRss(pid);
    if (peak !== undefined) result.rssPeak = peak;
    if (end !== undefined) result.rssEnd = end;
  } catch (err) {
    result.error = message(err);
  } finally {
    const note = await running.stop();
    if (note !== undefined) result.notes.push(`the proxy ${note}`);
  }
  logNotes(running, result.notes, result.hosts);
  const mb = (b: number | undefined): string => (b === undefined ? '?' : (b / 1e6).toFixed(0));
  if (result.error !== undefined) log(`  hosts RSS probe failed after ${result.hosts} hosts: ${result.error}`);
  else log(`  ${result.hosts} hosts in ${result.seconds?.toFixed(1)} s (${cfg.rssConcurrency} at once): peak RSS ${mb(result.rssPeak)} MB (${mb(result.rssStart)} MB at start, ${mb(result.rssEnd)} MB after)`);
  return result;
}

/**
 * The keep-alive load of the HTTPS rows (issue 5), in a process of its own: wrk cannot speak
 * through a CONNECT proxy, so this is a small Node load generator doing what wrk does for the
 * `forward` row, once in plain HTTP and once in HTTPS, against the same proxy process:
 *
 * - `plain`: N keep-alive connections to the proxy, each sending `GET http://127.0.0.1:UP/small`
 *   (absolute-form, as wrk's forward rows), one request at a time, to the plain bench upstream;
 * - `https`: N connections that each `CONNECT 127.0.0.1:UPS`, do TLS trusting only the proxy's CA
 *   (the proxy answers with its leaf), then send `GET /small` one at a time on that keep-alive TLS
 *   connection; the proxy opens its own TLS connection to the HTTPS bench upstream per client
 *   connection and verifies it (--upstream-ca).
 *
 * Both pools are opened first and warmed up; then the timed segments alternate ABBA (BAAB on even
 * runs), each half the load time, so that both sides meet the same moments of a noisy machine.
 * Between segments it reads the proxy's CPU time (/proc/PID/stat) and, after them, its peak RSS
 * (reset before the first timed segment). Prints one line `HTTPS_LOAD_JSON {…}` and exits.
 *
 *   node dist/bench/https-load.js '<json LoadConfig>'
 */
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { cpuSeconds } from './cpu.js';
import { ClientError, connectTcp, forwardRequest, HttpConnection, openTunnel, originRequest, secure, type Target } from './https-client.js';
import { peakRss, resetPeak } from './rss.js';
import type { WrkResult } from './wrk.js';

export const LOAD_MARK = 'HTTPS_LOAD_JSON ';
const STEP_TIMEOUT_MS = 15_000;

export type PoolName = 'plain' | 'https';

export interface LoadConfig {
  proxyPort: number;
  /** The proxy process: its CPU time per segment and its peak RSS. */
  proxyPid?: number;
  /** The plain bench upstream (the `plain` pool's absolute-form requests name it). */
  plainTarget: Target;
  /** The HTTPS bench upstream (the `https` pool CONNECTs to it). */
  httpsTarget: Target;
  /** The CA the client trusts for the proxy's leaves (PEM). */
  caPem: string;
  connections: number;
  warmupSeconds: number;
  /** Each timed segment; each pool gets two. */
  segmentSeconds: number;
  /** Which pool starts: ABBA with `https` first, BAAB with `plain` first. */
  first: PoolName;
}

/** What wrk reports for a load (same fields, same units), and what only this client knows. */
export interface PoolResult extends WrkResult {
  /** CPU seconds of the proxy process during this pool's timed segments. */
  proxyCpu?: number;
  /** CPU seconds of this load generator during them: near 1 per second means it was the limit. */
  clientCpu: number;
  /** Reconnections after a connection died mid-load (each also counted as an error). */
  reconnects: number;
  /** Time to open all connections (for https: CONNECT, the proxy's leaf, the client handshake). */
  openMs: number;
}

export interface LoadReport {
  plain: PoolResult;
  https: PoolResult;
  /** The proxy's peak RSS over the timed segments (bytes). */
  rssPeak?: number;
  segments: Array<{ pool: PoolName; requests: number; seconds: number }>;
}

interface Tally {
  requests: number;
  bytes: number;
  latenciesUs: number[];
  errors: PoolResult['errors'];
  reconnects: number;
  statusSeen: Map<number, number>;
}

const newTally = (): Tally => ({ requests: 0, bytes: 0, latenciesUs: [], errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }, reconnects: 0, statusSeen: new Map() });

class Pool {
  readonly slots: Array<HttpConnection | undefined> = [];
  openMs = 0;
  private readonly context: tls.SecureContext;
  private readonly request: Buffer;

  constructor(
    readonly name: PoolName,
    private readonly cfg: LoadConfig,
  ) {
    // One context for every connection: building one per connection costs milliseconds.
    this.context = tls.createSecureContext({ ca: cfg.caPem });
    this.request = name === 'plain' ? forwardRequest(cfg.plainTarget, '/small') : originRequest(cfg.httpsTarget, '/small');
  }

  async connect(): Promise<HttpConnection> {
    if (this.name === 'plain') return new HttpConnection(await connectTcp(this.cfg.proxyPort, STEP_TIMEOUT_MS));
    const tunnel = await openTunnel(this.cfg.proxyPort, this.cfg.httpsTarget, STEP_TIMEOUT_MS);
    return new HttpConnection(await secure(tunnel, this.cfg.httpsTarget, this.context, STEP_TIMEOUT_MS));
  }

  async open(): Promise<void> {
    const start = performance.now();
    const opened = await Promise.all(Array.from({ length: this.cfg.connections }, () => this.connect()));
    this.slots.push(...opened);
    // The first request of each connection opens the proxy's own upstream connection (and, for
    // https, its TLS handshake and certificate check): done here, before any timing.
    await Promise.all(opened.map((c) => c.request(this.request)));
    this.openMs = performance.now() - start;
  }

  /** Every connection sends requests back to back until `seconds` have passed. */
  run(seconds: number): Promise<{ tally: Tally; durationUs: number }> {
    const tally = newTally();
    const start = performance.now();
    const deadline = start + seconds * 1000;
    return new Promise((resolve) => {
      let active = this.slots.length;
      const finish = (): void => {
        if (--active === 0) resolve({ tally, durationUs: (performance.now() - start) * 1000 });
      };
      const loop = (i: number): void => {
        const conn = this.slots[i];
        if (performance.now() >= deadline) return finish();
        if (conn === undefined || !conn.alive) {
          tally.reconnects++;
          this.slots[i] = undefined;
          this.connect().then(
            (c) => {
              this.slots[i] = c;
              loop(i);
            },
            (err: unknown) => {
              tally.errors[err instanceof ClientError && err.phase === 'tls' ? 'read' : 'connect']++;
              // Do not spin on a proxy that refuses: try again a little later.
              setTimeout(() => loop(i), 50);
            },
          );
          return;
        }
        conn.send(this.request, (err, answer) => {
          if (err !== undefined || answer === undefined) {
            tally.errors.read++;
          } else {
            tally.requests++;
            tally.bytes += answer.bytes;
            tally.latenciesUs.push((answer.doneAt - answer.sentAt) * 1000);
            if (answer.status < 200 || answer.status >= 400) {
              tally.errors.status++;
              tally.statusSeen.set(answer.status, (tally.statusSeen.get(answer.status) ?? 0) + 1);
            }
          }
          // The next request from a fresh stack: a fast answer must not grow the stack.
          setImmediate(loop, i);
        });
      };
      for (let i = 0; i < this.slots.length; i++) loop(i);
    });
  }

  close(): void {
    for (const conn of this.slots) conn?.close();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

function merge(tallies: Tally[], durationUs: number, proxyCpu: number | undefined, clientCpu: number, openMs: number): PoolResult {
  const all = newTally();
  for (const t of tallies) {
    all.requests += t.requests;
    all.bytes += t.bytes;
    for (const v of t.latenciesUs) all.latenciesUs.push(v);
    for (const k of Object.keys(all.errors) as Array<keyof Tally['errors']>) all.errors[k] += t.errors[k];
    all.reconnects += t.reconnects;
    for (const [status, n] of t.statusSeen) all.statusSeen.set(status, (all.statusSeen.get(status) ?? 0) + n);
  }
  const sorted = all.latenciesUs.sort((a, b) => a - b);
  const mean = sorted.length === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const result: PoolResult = {
    requests: all.requests,
    durationUs,
    bytes: all.bytes,
    errors: all.errors,
    rps: durationUs > 0 ? all.requests / (durationUs / 1e6) : 0,
    p50Us: percentile(sorted, 50),
    p90Us: percentile(sorted, 90),
    p99Us: percentile(sorted, 99),
    meanUs: mean,
    maxUs: sorted[sorted.length - 1] ?? 0,
    clientCpu,
    reconnects: all.reconnects,
    openMs,
    ...(proxyCpu !== undefined && { proxyCpu }),
  };
  const { connect, read, write, timeout, status } = all.errors;
  const socketErrors = connect + read + write + timeout;
  const statuses = [...all.statusSeen].map(([s, n]) => `${n}× ${s}`).join(', ');
  if (status + socketErrors > 0) {
    result.warning = `${status} non-2xx/3xx answers${statuses ? ` (${statuses})` : ''}, socket errors connect ${connect} read ${read}, ${all.reconnects} reconnections`;
  }
  return result;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '') as LoadConfig;
  const pools = { plain: new Pool('plain', cfg), https: new Pool('https', cfg) };
  const other = (p: PoolName): PoolName => (p === 'plain' ? 'https' : 'plain');
  try {
    await pools.plain.open();
    await pools.https.open();
    // Warm-up: JIT, buffers and both pools' upstream connections settle; not counted.
    await pools[other(cfg.first)].run(cfg.warmupSeconds);
    await pools[cfg.first].run(cfg.warmupSeconds);

    const tallies: Record<PoolName, Tally[]> = { plain: [], https: [] };
    const durations: Record<PoolName, number> = { plain: 0, https: 0 };
    const proxyCpu: Record<PoolName, number | undefined> = { plain: 0, https: 0 };
    const clientCpu: Record<PoolName, number> = { plain: 0, https: 0 };
    const segments: LoadReport['segments'] = [];
    const order: PoolName[] = [cfg.first, other(cfg.first), other(cfg.first), cfg.first];
    if (cfg.proxyPid !== undefined) resetPeak(cfg.proxyPid);
    for (const name of order) {
      const cpuBefore = cfg.proxyPid === undefined ? undefined : cpuSeconds(cfg.proxyPid);
      const ownBefore = process.cpuUsage();
      const { tally, durationUs } = await pools[name].run(cfg.segmentSeconds);
      const own = process.cpuUsage(ownBefore);
      const cpuAfter = cfg.proxyPid === undefined ? undefined : cpuSeconds(cfg.proxyPid);
      tallies[name].push(tally);
      durations[name] += durationUs;
      const used = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
      proxyCpu[name] = used === undefined || proxyCpu[name] === undefined ? undefined : proxyCpu[name] + used;
      clientCpu[name] += (own.user + own.system) / 1e6;
      segments.push({ pool: name, requests: tally.requests, seconds: durationUs / 1e6 });
    }
    const rssPeak = cfg.proxyPid === undefined ? undefined : peakRss(cfg.proxyPid);
    const report: LoadReport = {
      plain: merge(tallies.plain, durations.plain, proxyCpu.plain, clientCpu.plain, pools.plain.openMs),
      https: merge(tallies.https, durations.https, proxyCpu.https, clientCpu.https, pools.https.openMs),
      ...(rssPeak !== undefined && { rssPeak }),
      segments,
    };
    process.stdout.write(`${LOAD_MARK}${JSON.stringify(report)}\n`);
  } finally {
    pools.plain.close();
    pools.https.close();
  }
}

// Run as a program only (the harness imports this file for its types and LOAD_MARK).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`https-load: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

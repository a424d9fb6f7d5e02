/**
 * The soak (issue 21): our proxy in reverse mode in front of the bench upstream, recording on,
 * under a bounded load for minutes (10 by default), to show what a short load cannot:
 *
 *   - every request is recorded exactly once: each carries its own number (`/small?soak=N`), and
 *     the journal, read after the proxy stopped, must hold every completed number once, and no
 *     exchange id twice;
 *   - memory and descriptors stay flat: RSS (after a full GC, see soak-gc.ts) and open file
 *     descriptors are sampled after the warm-up, at the middle and at the end.
 *
 * The load is bounded on purpose (a fixed rate over a few keep-alive connections, each replaced
 * after a number of requests so connections come and go): a soak is about leaks and lost
 * records, not speed, and must leave the machine usable. It never fails on speed: it reports.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { isRunning, startService, stopService } from './proc.js';

export interface SoakConfig {
  minutes: number;
  /** Requests per second, over all connections. */
  rate: number;
  connections: number;
  /** Requests on a connection before it is closed and another opened. */
  requestsPerConnection: number;
}

export const SOAK_DEFAULTS: Omit<SoakConfig, 'minutes'> = { rate: 200, connections: 8, requestsPerConnection: 200 };

export interface SoakSample {
  atSeconds: number;
  rssBytes: number | undefined;
  /** V8's heap in use after the GC (soak-gc.ts): the sharper leak signal; RSS keeps freed pages. */
  heapBytes: number | undefined;
  fds: number | undefined;
}

export interface SoakResult {
  config: SoakConfig;
  seconds: number;
  sent: number;
  completed: number;
  failed: number;
  /** Completed requests found in the journal once, not at all, more than once. */
  recordedOnce: number;
  missing: number;
  duplicated: number;
  /** Exchange lines whose id appeared before. */
  duplicateIds: number;
  exchangeLines: number;
  samples: SoakSample[];
  stopNote?: string;
}

type Log = (line: string) => void;

export async function runSoak(root: string, workDir: string, upstreamPort: number, config: SoakConfig, log: Log): Promise<SoakResult> {
  const journal = path.join(workDir, 'soak.ndjson');
  fs.rmSync(journal, { force: true });
  const proxy = startService(
    'proxy-soak',
    process.execPath,
    ['--expose-gc', '--import', path.join(root, 'dist', 'bench', 'soak-gc.js'), path.join(root, 'dist', 'src', 'cli.js'), 'start', '--listen', '127.0.0.1:0', '--log-level', 'warn', '--target', `http://127.0.0.1:${upstreamPort}`, '--record', journal, '--no-control'],
    path.join(workDir, 'proxy-soak.log'),
  );
  // --log-level warn keeps the log small over minutes; the listening line is info, so the port
  // comes from a probe of the proxy's listening sockets instead. --no-control: the control
  // server's would be a second listening socket for that probe to find (it found it, and the
  // soak's requests got 401s).
  const port = await listeningPort(proxy.pid, 20_000);
  const durationMs = config.minutes * 60_000;
  const started = performance.now();
  const completedIds = new Set<number>();
  const counters = { sent: 0, failed: 0 };
  const samples: SoakSample[] = [];
  let stop = false;
  let next = 0;

  // Each connection sends its share of the rate, one request at a time, on its own agent.
  const interval = (1000 * config.connections) / config.rate;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < config.requestsPerConnection && !stop; i++) {
        const due = performance.now() + interval;
        const id = next++;
        counters.sent += 1;
        if (await get(agent, port, `/small?soak=${id}`)) completedIds.add(id);
        else counters.failed += 1;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
      agent.destroy();
    }
  };
  const workers = Array.from({ length: config.connections }, () => worker());

  // Samples after the warm-up (10 s, or a tenth of a short soak), at the middle and at the end.
  const sampleAt = [Math.min(10_000, durationMs / 10), durationMs / 2, durationMs];
  for (const at of sampleAt) {
    const wait = started + at - performance.now();
    if (wait > 0) await sleep(wait);
    if (!isRunning(proxy)) break;
    samples.push(await sample(proxy.pid, proxy.logFile, (performance.now() - started) / 1000));
    const last = samples.at(-1)!;
    log(`  soak: ${Math.round((performance.now() - started) / 1000)} s, ${completedIds.size} requests completed, RSS ${mb(last.rssBytes)} MB, heap ${mb(last.heapBytes)} MB, ${last.fds ?? '?'} fds`);
  }
  stop = true;
  await Promise.all(workers);
  const seconds = (performance.now() - started) / 1000;
  // SIGTERM: the proxy finishes what is in flight and closes its journal.
  const stopNote = await stopService(proxy, 10_000);

  const seen = new Map<number, number>();
  const ids = new Set<string>();
  let duplicateIds = 0;
  let exchangeLines = 0;
  for (const line of fs.readFileSync(journal, 'utf8').split('\n')) {
    if (!line.startsWith('{"v"')) continue;
    const parsed = JSON.parse(line) as { type?: string; id?: string; request?: { url?: string } };
    if (parsed.type !== 'exchange') continue;
    exchangeLines += 1;
    if (parsed.id !== undefined) {
      if (ids.has(parsed.id)) duplicateIds += 1;
      ids.add(parsed.id);
    }
    const match = /[?&]soak=(\d+)/.exec(parsed.request?.url ?? '');
    if (match) seen.set(Number(match[1]), (seen.get(Number(match[1])) ?? 0) + 1);
  }
  let recordedOnce = 0;
  let missing = 0;
  let duplicated = 0;
  for (const id of completedIds) {
    const count = seen.get(id) ?? 0;
    if (count === 1) recordedOnce += 1;
    else if (count === 0) missing += 1;
    else duplicated += 1;
  }
  fs.rmSync(journal, { force: true });
  return {
    config,
    seconds,
    sent: counters.sent,
    completed: completedIds.size,
    failed: counters.failed,
    recordedOnce,
    missing,
    duplicated,
    duplicateIds,
    exchangeLines,
    samples,
    ...(stopNote !== undefined && { stopNote }),
  };
}

/** The soak's table (the bench's markdown style) and its acceptance line. */
export function soakLines(r: SoakResult): string[] {
  const s = (i: number): SoakSample | undefined => r.samples[i];
  const triple = (f: (x: SoakSample | undefined) => string): string => [0, 1, 2].map((i) => f(s(i))).join(' / ');
  const flatRss = r.samples.length === 3 && r.samples[2]!.rssBytes !== undefined && r.samples[0]!.rssBytes !== undefined ? r.samples[2]!.rssBytes / r.samples[0]!.rssBytes : undefined;
  const flatFds = r.samples.length === 3 ? (r.samples[2]!.fds ?? NaN) - (r.samples[0]!.fds ?? NaN) : NaN;
  const heapEnd = r.samples[2]?.heapBytes;
  const heapStart = r.samples[0]?.heapBytes;
  const flatHeap = heapEnd !== undefined && heapStart !== undefined ? heapEnd / heapStart : undefined;
  return [
    '| soak | minutes | req/s | completed | recorded once | missing | twice | failed | RSS MB after GC (start / mid / end) | heap MB after GC (start / mid / end) | fds (start / mid / end) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| proxy reverse, recording | ${(r.seconds / 60).toFixed(1)} | ${Math.round(r.completed / r.seconds)} | ${r.completed.toLocaleString('en-US')} | ${r.recordedOnce.toLocaleString('en-US')} | ${r.missing} | ${r.duplicated} | ${r.failed} | ${triple((x) => mb(x?.rssBytes))} | ${triple((x) => mb(x?.heapBytes))} | ${triple((x) => String(x?.fds ?? '?'))} |`,
    '',
    // A soak whose requests failed proves nothing about recording: it says no, and why.
    `Soak: every completed request recorded exactly once: ${r.completed === 0 || r.failed > r.completed / 100 ? `no (${r.failed.toLocaleString('en-US')} of ${(r.completed + r.failed).toLocaleString('en-US')} requests failed; see .bench/proxy-soak.log)` : r.missing === 0 && r.duplicated === 0 && r.duplicateIds === 0 ? 'yes' : 'no'} (${r.exchangeLines.toLocaleString('en-US')} exchange lines, ${r.duplicateIds} ids twice); ` +
      `RSS end ÷ start ${flatRss === undefined ? 'n/a' : flatRss.toFixed(2)}, heap end ÷ start ${flatHeap === undefined ? 'n/a' : flatHeap.toFixed(2)}, fds end − start ${Number.isNaN(flatFds) ? 'n/a' : flatFds}` +
      (r.stopNote !== undefined ? `; the proxy ${r.stopNote}` : ''),
  ];
}

async function sample(pid: number, logFile: string, atSeconds: number): Promise<SoakSample> {
  // A full GC in the proxy first (soak-gc.ts), then a moment for the heap to shrink.
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    // gone: the sample says so
  }
  await sleep(500);
  return { atSeconds, rssBytes: rss(pid), heapBytes: lastHeap(logFile), fds: fdCount(pid) };
}

/** heapUsed of the last `soak-heap` line soak-gc.ts printed. */
function lastHeap(logFile: string): number | undefined {
  try {
    const lines = fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"soak-heap"'));
    const last = lines.at(-1);
    return last === undefined ? undefined : (JSON.parse(last) as { heapUsed: number }).heapUsed;
  } catch {
    return undefined;
  }
}

function rss(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function fdCount(pid: number): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** The port of the proxy's listening TCP socket, from /proc (its log is at warn). */
async function listeningPort(pid: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const inodes = new Set<string>();
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m) inodes.add(m[1]!);
      }
      for (const line of fs.readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        // st 0A: LISTEN; local address 0100007F:PORT (127.0.0.1).
        if (f[3] === '0A' && inodes.has(f[9] ?? '')) return parseInt(f[1]!.split(':')[1]!, 16);
      }
    } catch {
      // not up yet, or gone: tried again below until the deadline
    }
    await sleep(100);
  }
  throw new Error(`the soak's proxy did not listen within ${timeoutMs / 1000} s (see .bench/proxy-soak.log)`);
}

function get(agent: http.Agent, port: number, pathname: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.complete && res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.setTimeout(10_000, () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function mb(bytes: number | undefined): string {
  return bytes === undefined ? '?' : (bytes / 1e6).toFixed(1);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

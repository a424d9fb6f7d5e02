/**
 * The `ui-feed` probe's load (issue 23): `GET /small` through our proxy as a forward proxy at a
 * fixed rate, not as fast as it can go, since the question is what a page watching ~1,000
 * exchanges/s costs, not the proxy's ceiling (wrk cannot pace; a Node client can). A process of
 * its own, so the harness only waits. Every 5 ms it sends the requests that are due by then
 * (rate × elapsed − sent) on a pool of keep-alive connections; when more than MAX_IN_FLIGHT are
 * unanswered it sends none and counts them as behind, so a slow proxy shows as a lower achieved
 * rate rather than an ever-growing queue.
 *
 * It reads the CPU time of the processes it is told about (the proxy; the browser's whole tree)
 * right as the timed window opens and closes, so their CPU per request covers exactly the load.
 * One JSON line on stdout at the end:
 *
 *   {"msg":"ui load","completed":N,"failed":N,"behind":N,"seconds":S,"startMs":…,"endMs":…,"cpu":{…}}
 *
 *   node dist/bench/ui-load.js <proxy port> <upstream port> <rate> <warm-up s> <load s> [name=pid …]
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { cpuSeconds } from './cpu.js';
import { treeCpuSeconds } from './ui-cpu.js';

export const UI_LOAD = 'ui load';
const TICK_MS = 5;
const CONNECTIONS = 16;
export const MAX_IN_FLIGHT = 256;

export interface UiLoadResult {
  /** Answers of the timed window (2xx with the whole 1 KiB body). */
  completed: number;
  /** All answers, warm-up included: what the page should hold. */
  completedTotal: number;
  failed: number;
  behind: number;
  seconds: number;
  startMs: number;
  endMs: number;
  /** CPU seconds over the timed window, by the names given (`tree:` names sum the process tree). */
  cpu: Record<string, number | undefined>;
}

async function main(): Promise<void> {
  const [proxyPort, upstreamPort, rateText, warmupText, loadText, ...watched] = process.argv.slice(2);
  const rate = Number(rateText);
  const warmup = Number(warmupText) * 1000;
  const load = Number(loadText) * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const target = `http://127.0.0.1:${String(upstreamPort)}/small`;
  const pids = watched.map((w) => {
    const [name, pid] = w.split('=');
    return { name: name!, pid: Number(pid) };
  });
  const readCpu = (): Array<number | undefined> => pids.map(({ name, pid }) => (name.startsWith('tree:') ? treeCpuSeconds(pid) : cpuSeconds(pid)));

  let inFlight = 0;
  let completedTotal = 0;
  let completed = 0;
  let failed = 0;
  let behind = 0;
  let timing = false;
  const one = (): void => {
    inFlight++;
    const req = http.request({ host: '127.0.0.1', port: Number(proxyPort), path: target, agent, headers: { Host: `127.0.0.1:${String(upstreamPort)}` } });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    const counted = timing;
    req.once('error', () => {
      inFlight--;
      failed++;
    });
    req.once('response', (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.once('error', () => undefined);
      res.once('end', () => {
        inFlight--;
        if (res.statusCode === 200 && bytes >= 1024) {
          completedTotal++;
          if (counted && timing) completed++;
        } else failed++;
      });
    });
    req.end();
  };

  const start = performance.now();
  let sent = 0;
  let cpuStart: Array<number | undefined> = [];
  let cpuEnd: Array<number | undefined> = [];
  let startMs = 0;
  let endMs = 0;
  let windowStart = 0;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      if (!timing && elapsed >= warmup && windowStart === 0) {
        cpuStart = readCpu();
        startMs = Date.now();
        windowStart = performance.now();
        timing = true;
      }
      if (elapsed >= warmup + load) {
        cpuEnd = readCpu();
        endMs = Date.now();
        timing = false;
        clearInterval(timer);
        done();
        return;
      }
      const due = Math.floor((elapsed * rate) / 1000) - sent;
      for (let i = 0; i < due; i++) {
        sent++;
        if (inFlight >= MAX_IN_FLIGHT) behind++;
        else one();
      }
    }, TICK_MS);
  });
  const seconds = (endMs - startMs) / 1000;
  // The last answers of the load reach the proxy's feed too; wait for them (bounded).
  for (let i = 0; i < 100 && inFlight > 0; i++) await new Promise((wake) => setTimeout(wake, 50));
  agent.destroy();
  const cpu: Record<string, number | undefined> = {};
  pids.forEach(({ name }, i) => {
    const a = cpuStart[i];
    const b = cpuEnd[i];
    cpu[name] = a === undefined || b === undefined ? undefined : b - a;
  });
  const result: UiLoadResult = { completed, completedTotal, failed, behind, seconds, startMs, endMs, cpu };
  process.stdout.write(`${JSON.stringify({ msg: UI_LOAD, ...result })}\n`);
}

// Run when started as a program; the harness imports this file for its types and names only.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(`${JSON.stringify({ msg: 'ui load failed', error: err instanceof Error ? err.message : String(err) })}\n`);
    process.exit(1);
  },
);

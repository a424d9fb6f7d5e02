/**
 * Issue 4, "an FPSE `server version` rewrite adds ≤ 1 ms median latency over the same call
 * unmodified". The FPSE simulator (`./proxy simulate fpse`, SharePoint 2010, 14.0.0.6029) runs in
 * its own process as the bench upstream does; two of our proxies run side by side, one without
 * rules and one with bench/rules/fpse-server-version.yaml (`server version` answered as
 * 5.0.2.6790). The same Office 2007 `server version` POST is sent through each, one request at a
 * time on one keep-alive connection per proxy, alternating between the two (which goes first
 * swaps every pair), so both sides see the same moments of the machine. Latency is from the
 * request's first byte leaving the client to the answer's last byte in; medians and p99 per side.
 *
 * Every answer is checked: through the rule it must carry 5.0.2.6790 (method line and the
 * `server version=` list), without it the simulator's own 14.0.0.6029 and the client's echo, so
 * the comparison cannot pass by not rewriting.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { BenchConfig } from './measure.js';
import { oneConnectionAgent, pairLogNotes, percentile, startProxyPair, startSimulator, type Simulator } from './probe-kit.js';
import type { Context } from './subjects.js';

export const FPSE_RULES = 'fpse-server-version.yaml';
export const FPSE_PATH = '/_vti_bin/shtml.dll/_vti_rpc';
/** Office 2007 (12.0.0.6415) asking the server's version, percent-encoded as Office sends it. */
export const FPSE_BODY = Buffer.from('method=server+version%3a12%2e0%2e0%2e6415&service%5fname=%2f', 'latin1');
const SERVER_BUILD = '14.0.0.6029';
const REWRITTEN = '5.0.2.6790';

export interface LatencyStats {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

export interface FpseLatencyRun {
  probe: 'fpse-rewrite';
  run: number;
  /** The probe could not run (a process did not start, requests failed): nothing else counts. */
  error?: string;
  /** Timed requests per side (after the warm-up). */
  requests: number;
  plain?: LatencyStats;
  rewrite?: LatencyStats;
  /** median(rewrite) − median(plain), ms. */
  p50DeltaMs?: number;
  /** Answers through the rule with 5.0.2.6790 in the method line and the server version list. */
  rewrittenAnswers: number;
  /** Answers without rules with the simulator's own 14.0.0.6029 and the client's 12.0.0.6415 echo. */
  unmodifiedAnswers: number;
  /** Connections each side opened (1 expected: all requests on one keep-alive connection). */
  connections: { plain: number; rewrite: number };
  /** `rule applied` lines in the log of the proxy with rules (one per request expected). */
  ruleApplied?: number;
  notes: string[];
}

interface Timed {
  ms: number;
  status: number;
  body: string;
  reused: boolean;
}

/** One `server version` POST through a forward proxy, absolute-form, on the agent's connection. */
function serverVersion(proxyPort: number, simPort: number, agent: http.Agent): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const authority = `127.0.0.1:${simPort}`;
    const req = http.request({
      host: '127.0.0.1',
      port: proxyPort,
      method: 'POST',
      path: `http://${authority}${FPSE_PATH}`,
      agent,
      // MC-FPSEWM 4.2.4.1's header set, as Office 2007 sends it.
      headers: {
        Host: authority,
        'User-Agent': 'MSFrontPage/12.0',
        Accept: 'auth/sicily',
        'Content-Type': 'application/x-www-form-urlencoded',
        'X-Vermeer-Content-Type': 'application/x-www-form-urlencoded',
        'Cache-Control': 'no-cache',
        'Content-Length': String(FPSE_BODY.length),
      },
    });
    let start = 0;
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => {
        const ms = performance.now() - start;
        resolve({ ms, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1'), reused: req.reusedSocket });
      });
    });
    start = performance.now();
    req.end(FPSE_BODY);
  });
}

function stats(values: number[]): LatencyStats {
  const sum = values.reduce((a, b) => a + b, 0);
  return { p50Ms: percentile(values, 50)!, p99Ms: percentile(values, 99)!, meanMs: sum / values.length, maxMs: Math.max(...values) };
}

const isRewritten = (a: Timed): boolean =>
  a.status === 200 && a.body.includes(`method=server version:${REWRITTEN}`) && a.body.includes('<li>major ver=5') && a.body.includes('<li>ver incr=6790');
const isUnmodified = (a: Timed): boolean =>
  a.status === 200 && a.body.includes('method=server version:12.0.0.6415') && a.body.includes('<li>major ver=14') && a.body.includes('<li>ver incr=6029');

export async function measureFpseLatency(ctx: Context, cfg: BenchConfig, run: number, log: (line: string) => void): Promise<FpseLatencyRun> {
  const result: FpseLatencyRun = { probe: 'fpse-rewrite', run, requests: 0, rewrittenAnswers: 0, unmodifiedAnswers: 0, connections: { plain: 0, rewrite: 0 }, notes: [] };
  let sim: Simulator | undefined;
  let pair: Awaited<ReturnType<typeof startProxyPair>> | undefined;
  try {
    sim = await startSimulator(ctx, 'sim-fpse', 'fpse', ['--version', SERVER_BUILD]);
    pair = await startProxyPair(ctx, 'fpse', FPSE_RULES);
    const sides = { plain: { port: pair.plain.port, agent: oneConnectionAgent() }, rewrite: { port: pair.rules.port, agent: oneConnectionAgent() } };
    const times = { plain: [] as number[], rewrite: [] as number[] };
    const total = cfg.fpseWarmup + cfg.fpseRequests;
    try {
      for (let i = 0; i < total; i++) {
        // Which side goes first swaps every pair, so neither always follows the other.
        const order = i % 2 === 0 ? (['plain', 'rewrite'] as const) : (['rewrite', 'plain'] as const);
        for (const side of order) {
          const answer = await serverVersion(sides[side].port, sim.port, sides[side].agent);
          if (!answer.reused) result.connections[side]++;
          if (side === 'rewrite' ? isRewritten(answer) : isUnmodified(answer)) {
            if (side === 'rewrite') result.rewrittenAnswers++;
            else result.unmodifiedAnswers++;
          }
          if (i >= cfg.fpseWarmup) times[side].push(answer.ms);
        }
      }
    } finally {
      sides.plain.agent.destroy();
      sides.rewrite.agent.destroy();
    }
    result.requests = cfg.fpseRequests;
    result.plain = stats(times.plain);
    result.rewrite = stats(times.rewrite);
    result.p50DeltaMs = result.rewrite.p50Ms - result.plain.p50Ms;
    if (result.rewrittenAnswers < total) result.error = `only ${result.rewrittenAnswers} of ${total} answers through the rule carried ${REWRITTEN}: the rewrite did not happen`;
    else if (result.unmodifiedAnswers < total) result.error = `only ${result.unmodifiedAnswers} of ${total} answers without rules were the simulator's own (${SERVER_BUILD})`;
    if (result.connections.plain > 1 || result.connections.rewrite > 1) {
      result.notes.push(`connections opened: ${result.connections.plain} without rules, ${result.connections.rewrite} with (1 each expected)`);
    }
    log(
      `  fpse-rewrite: median ${result.plain.p50Ms.toFixed(3)} ms unmodified, ${result.rewrite.p50Ms.toFixed(3)} ms rewritten ` +
        `(${result.p50DeltaMs >= 0 ? '+' : ''}${result.p50DeltaMs.toFixed(3)} ms); p99 ${result.plain.p99Ms.toFixed(2)} / ${result.rewrite.p99Ms.toFixed(2)} ms; ` +
        `${result.rewrittenAnswers} of ${total} rewritten to ${REWRITTEN}`,
    );
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`  fpse-rewrite: failed: ${result.error}`);
  } finally {
    if (pair !== undefined) result.notes.push(...(await pair.stop()));
    const simNote = await sim?.stop();
    if (simNote !== undefined) result.notes.push(`FPSE simulator ${simNote}`);
  }
  if (pair !== undefined) {
    const logs = pairLogNotes(pair);
    result.ruleApplied = logs.ruleApplied;
    result.notes.push(...logs.notes);
  }

  for (const note of result.notes) log(`  fpse-rewrite: note: ${note}`);
  return result;
}

/**
 * What the rule probes of issue 4 (fpse-latency.ts, mapi-stream-timing.ts) share: a protocol
 * simulator in its own process (as the bench upstream is), a pair of our proxies (one without
 * rules, one with a bench rule file), a look at a proxy's log once it stopped, and percentiles.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRunning, startService, stopService, type Service } from './proc.js';
import { benchRulesFile, BENCH_SEED, PROXY_START, proxyService, type Context, type Running } from './subjects.js';

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

export interface Simulator {
  port: number;
  service: Service;
  stop(): Promise<string | undefined>;
}

/**
 * `./proxy simulate <what> --listen 127.0.0.1:0 …`, its output in .bench/NAME.log. The simulators
 * log `{"msg":"simulator listening","url":"http://127.0.0.1:PORT"}` rather than the
 * `{"msg":"listening","port":N}` the other helpers print, so they are waited for here.
 */
export async function startSimulator(ctx: Context, name: string, what: 'fpse' | 'mapi', args: string[]): Promise<Simulator> {
  const service = startService(name, path.join(ctx.root, 'proxy'), ['simulate', what, ...args, '--listen', '127.0.0.1:0'], path.join(ctx.workDir, `${name}.log`));
  try {
    const port = await waitForSimulator(service, START_TIMEOUT_MS);
    return { port, service, stop: () => stopService(service, STOP_TIMEOUT_MS) };
  } catch (err) {
    await stopService(service, 2000);
    throw err;
  }
}

async function waitForSimulator(service: Service, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const line of fs.readFileSync(service.logFile, 'utf8').split('\n')) {
      if (!line.includes('"simulator listening"')) continue;
      try {
        const parsed = JSON.parse(line) as { url?: unknown };
        const port = typeof parsed.url === 'string' ? Number(new URL(parsed.url).port) : NaN;
        if (Number.isInteger(port) && port > 0) return port;
      } catch {
        // A line still being written: read again on the next round.
      }
    }
    if (!isRunning(service)) {
      const tail = fs.readFileSync(service.logFile, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(0, 300);
      throw new Error(`${service.name} exited (${String(service.child.exitCode ?? service.child.signalCode)}) before listening: ${tail || 'no output'}`);
    }
    await sleep(50);
  }
  throw new Error(`${service.name} did not log "simulator listening" within ${timeoutMs / 1000} s`);
}

export interface ProxyPair {
  /** Our proxy without --rules. */
  plain: Running;
  /** Our proxy with --rules bench/rules/<file> --seed 1; otherwise the same. */
  rules: Running;
  stop(): Promise<string[]>;
}

/**
 * Two proxies, exactly as the `forward` row starts ours (./proxy start, info logging into
 * .bench/NAME.log, --no-record), the second with the rule file: they run side by side, so the
 * probe can alternate between them and both sides meet the same moments of a noisy machine.
 */
export async function startProxyPair(ctx: Context, name: string, rulesFile: string): Promise<ProxyPair> {
  const base = PROXY_START;
  const plain = await proxyService(ctx, `proxy-${name}-plain`, base);
  let rules: Running;
  try {
    rules = await proxyService(ctx, `proxy-${name}-rules`, [...base, '--rules', benchRulesFile(ctx, rulesFile), '--seed', BENCH_SEED]);
  } catch (err) {
    await plain.stop();
    throw err;
  }
  return {
    plain,
    rules,
    stop: async () => {
      const notes = await Promise.all([plain.stop(), rules.stop()]);
      return notes.flatMap((n, i) => (n === undefined ? [] : [`${i === 0 ? 'proxy without rules' : 'proxy with rules'} ${n}`]));
    },
  };
}

export interface ProxyLogCounts {
  exchanges: number;
  /** `rule applied` lines. */
  ruleApplied: number;
  /** The rule count of the `rules loaded` line, if any. */
  rulesLoaded?: number;
  /** warn and worse lines, with the first of them. */
  warnings: number;
  firstWarning?: string;
}

/**
 * What the logs of a stopped proxy pair say: "rule applied" lines of the proxy with rules, and a
 * note for any warn/error line (or a rule applied where none should be).
 */
export function pairLogNotes(pair: ProxyPair): { ruleApplied: number; notes: string[] } {
  const withRules = scanProxyLog(pair.rules.service?.logFile);
  const without = scanProxyLog(pair.plain.service?.logFile);
  const notes: string[] = [];
  for (const [who, counts] of [['with rules', withRules], ['without rules', without]] as const) {
    if (counts.warnings > 0) notes.push(`proxy ${who}: log has ${counts.warnings} warn/error line(s), first: ${counts.firstWarning ?? ''}`);
  }
  if (without.ruleApplied > 0) notes.push(`proxy without rules logged ${without.ruleApplied} "rule applied" line(s)`);
  return { ruleApplied: withRules.ruleApplied, notes };
}

/** Counts in our proxy's log, read after it stopped. */
export function scanProxyLog(file: string | undefined): ProxyLogCounts {
  const counts: ProxyLogCounts = { exchanges: 0, ruleApplied: 0, warnings: 0 };
  if (file === undefined || !fs.existsSync(file)) return counts;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.includes('"msg":"exchange"')) counts.exchanges++;
    else if (line.includes('"msg":"rule applied"')) counts.ruleApplied++;
    else if (line.includes('"msg":"rules loaded"')) {
      const n = /"rules":(\d+)/.exec(line);
      if (n !== null) counts.rulesLoaded = Number(n[1]);
    }
    const level = /"level":(\d+)/.exec(line);
    if (level !== null && Number(level[1]) >= 40) {
      counts.warnings++;
      counts.firstWarning ??= line.slice(0, 240);
    }
  }
  return counts;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** A keep-alive agent with one socket: every request of a side goes over the same connection. */
export function oneConnectionAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, keepAliveMsecs: 60_000 });
}

export const ms = (n: number | undefined, digits = 2): string => (n === undefined ? 'n/a' : `${n.toFixed(digits)} ms`);
export const signedMs = (n: number | undefined, digits = 2): string => (n === undefined ? 'n/a' : `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(digits)} ms`);

/**
 * How the proxy's rule engine splits a rule file for the bench's own traffic (`GET /small`, plain
 * HTTP to 127.0.0.1): the rules it sets aside by protocol or host once per (protocol, host), and
 * those it tests matcher by matcher on every request. Read with the proxy's own loader and
 * compiler (dist/src/rules/), so the line under the table says what the row really exercised.
 */
export async function ruleCandidates(file: string): Promise<{ loaded: number; tested: number; error?: string }> {
  try {
    const { loadRuleFiles } = await import('../src/rules/load.js');
    const { compileRules } = await import('../src/rules/compile.js');
    const loaded = await loadRuleFiles([file]);
    if (loaded.issues.length > 0) return { loaded: loaded.rules.length, tested: 0, error: `${loaded.issues.length} issue(s) in ${file}` };
    const set = compileRules(loaded.rules, { seed: 0 });
    return { loaded: set.size, tested: set.candidates({ protocol: 'http', method: 'GET', host: '127.0.0.1', client: '127.0.0.1' }).length };
  } catch (err) {
    return { loaded: 0, tested: 0, error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Issue 22, "scope add + remove round trip p50 ≤ 5 ms": what a test suite pays to scope a fault
 * around one test. Two of our proxies run side by side with their control servers, as the
 * `forward` row starts ours plus `--control 127.0.0.1:0`: one with no rules, one with the 100
 * rules of bench/rules/hundred-nonmatching.yaml added through `POST /api/rules` (the rule set is
 * recompiled on every change, so a scope costs more the more rules are in force). On one
 * keep-alive connection per proxy, one pair at a time, alternating between the proxies (which goes
 * first swaps every pair): `POST /api/scopes` with one rule (an FPSE `server version` rewrite),
 * then `DELETE /api/scopes/{id}`. A pair's time runs from the POST's first byte written to the
 * DELETE's answer read. No traffic passes meanwhile: this is the control plane's own latency.
 *
 * Checked, so that the numbers cannot come from a proxy that did nothing: every POST answers 201
 * with the scope and its rule id, every DELETE 200 `deleted: true`; before the timed pairs, a scope's
 * rule is listed by `GET /api/rules` as a scope rule with the definition sent, and gone after its
 * DELETE; after them, no scope is left and the 100 runtime rules are still there.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { addRuntimeRules, ControlClient, controlStartArgs, rulesInForce, tokenFileFor } from './control.js';
import type { BenchConfig } from './measure.js';
import { percentile, scanProxyLog } from './probe-kit.js';
import { benchRulesFile, BENCH_SEED, HUNDRED_RULES, PROXY_START, proxyService, type Context, type Running } from './subjects.js';

/** Issue 22's bound on the median pair. */
export const SCOPE_MAX_P50_MS = 5;

/** The scope's one rule: FrontPage 2002 to FPSE `server version` (as bench/rules/fpse-server-version.yaml). */
export const SCOPE_RULE = { match: { protocol: 'fpse', fpseMethod: 'server version' }, actions: [{ serverVersion: '5.0.2.6790' }] };

export type ScopeSide = 'empty' | 'rules100';

export interface ScopeSeries {
  pairs: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  /** Medians of the POST and of the DELETE alone. */
  addP50Ms: number;
  removeP50Ms: number;
  /** Connections the client opened (1 expected: every request on one keep-alive connection). */
  connections: number;
}

export interface ScopeRoundTripRun {
  probe: 'scope-roundtrip';
  run: number;
  error?: string;
  series: Partial<Record<ScopeSide, ScopeSeries>>;
  notes: string[];
}

interface Side {
  name: ScopeSide;
  running: Running;
  client: ControlClient;
  tokenFile: string;
  times: number[];
  adds: number[];
  removes: number[];
}

/** POST a scope, DELETE it; the pair's time and each request's, checked. */
async function roundTrip(client: ControlClient): Promise<{ ms: number; addMs: number; removeMs: number; scope: string; rule: string }> {
  const start = performance.now();
  const add = await client.request('POST', '/api/scopes', { rules: [SCOPE_RULE], ttl: 60_000 });
  const created = add.body as { id?: unknown; rules?: unknown };
  if (add.status !== 201 || typeof created.id !== 'string' || !Array.isArray(created.rules) || created.rules.length !== 1) {
    throw new Error(`POST /api/scopes answered ${add.status}: ${JSON.stringify(add.body).slice(0, 300)}`);
  }
  const scope = created.id;
  const remove = await client.request('DELETE', `/api/scopes/${encodeURIComponent(scope)}`);
  const ms = performance.now() - start;
  if (remove.status !== 200 || (remove.body as { deleted?: unknown }).deleted !== true) {
    throw new Error(`DELETE /api/scopes/${scope} answered ${remove.status}: ${JSON.stringify(remove.body).slice(0, 300)}`);
  }
  return { ms, addMs: add.ms, removeMs: remove.ms, scope, rule: String(created.rules[0]) };
}

/** Between a POST and its DELETE the rule is in force as a scope rule with the definition sent; after, it is gone. */
async function checkOnce(client: ControlClient): Promise<void> {
  const add = await client.expect(201, 'POST', '/api/scopes', { rules: [SCOPE_RULE], ttl: 60_000 });
  const { id, rules } = add as { id: string; rules: string[] };
  const listed = (await client.expect(200, 'GET', '/api/rules')) as Array<{ id: string; source: string; scope?: string; definition?: { match?: unknown; actions?: unknown } }>;
  const rule = listed.find((r) => r.id === rules[0]);
  if (rule === undefined || rule.source !== 'scope' || rule.scope !== id) throw new Error(`GET /api/rules does not list the scope's rule ${String(rules[0])} as a rule of scope ${id}`);
  if (JSON.stringify(rule.definition?.match) !== JSON.stringify(SCOPE_RULE.match) || JSON.stringify(rule.definition?.actions) !== JSON.stringify(SCOPE_RULE.actions)) {
    throw new Error(`the scope's rule is listed as ${JSON.stringify(rule.definition)}, not as sent`);
  }
  await client.expect(200, 'DELETE', `/api/scopes/${encodeURIComponent(id)}`);
  const after = await rulesInForce(client);
  if (after.scope !== 0) throw new Error(`${after.scope} scope rule(s) still listed after DELETE /api/scopes/${id}`);
}

function series(side: Side): ScopeSeries {
  return {
    pairs: side.times.length,
    p50Ms: percentile(side.times, 50)!,
    p95Ms: percentile(side.times, 95)!,
    maxMs: Math.max(...side.times),
    addP50Ms: percentile(side.adds, 50)!,
    removeP50Ms: percentile(side.removes, 50)!,
    connections: side.client.connections,
  };
}

async function startSide(ctx: Context, name: ScopeSide): Promise<Side> {
  const service = `proxy-scope-${name}`;
  const tokenFile = tokenFileFor(ctx.workDir, service);
  fs.rmSync(tokenFile, { force: true });
  const running = await proxyService(ctx, service, [...controlStartArgs(PROXY_START, tokenFile), '--seed', BENCH_SEED]);
  const client = ControlClient.fromRun(running.service!.logFile, tokenFile);
  return { name, running, client, tokenFile, times: [], adds: [], removes: [] };
}

async function stopSide(side: Side): Promise<string | undefined> {
  side.client.close();
  const note = await side.running.stop();
  fs.rmSync(side.tokenFile, { force: true });
  return note;
}

export async function measureScopeRoundTrip(ctx: Context, cfg: BenchConfig, run: number, log: (line: string) => void): Promise<ScopeRoundTripRun> {
  const result: ScopeRoundTripRun = { probe: 'scope-roundtrip', run, series: {}, notes: [] };
  const sides: Side[] = [];
  try {
    sides.push(await startSide(ctx, 'empty'));
    sides.push(await startSide(ctx, 'rules100'));
    const [empty, rules100] = sides as [Side, Side];
    const added = await addRuntimeRules(rules100.client, benchRulesFile(ctx, HUNDRED_RULES));
    for (const side of sides) await checkOnce(side.client);
    // Connections are counted from here: the timed pairs should all use one.
    for (const side of sides) side.client.connections = 0;
    const total = cfg.scopeWarmup + cfg.scopePairs;
    for (let i = 0; i < total; i++) {
      const order = i % 2 === 0 ? [empty, rules100] : [rules100, empty];
      for (const side of order) {
        const pair = await roundTrip(side.client);
        if (i < cfg.scopeWarmup) continue;
        side.times.push(pair.ms);
        side.adds.push(pair.addMs);
        side.removes.push(pair.removeMs);
      }
    }
    for (const side of sides) {
      const left = (await side.client.expect(200, 'GET', '/api/scopes')) as unknown[];
      const rules = await rulesInForce(side.client);
      const runtime = side.name === 'rules100' ? added : 0;
      if (left.length > 0 || rules.scope > 0 || rules.runtime !== runtime) {
        throw new Error(`after the pairs, the proxy with ${side.name === 'empty' ? 'no rules' : '100 runtime rules'} lists ${left.length} scope(s), ${rules.scope} scope rule(s) and ${rules.runtime} runtime rule(s) (${runtime} expected)`);
      }
      const s = series(side);
      result.series[side.name] = s;
      if (s.connections > 1) result.notes.push(`${side.name}: the client opened ${s.connections} connections for the timed pairs (1 expected)`);
      log(
        `  scope-roundtrip (${side.name === 'empty' ? 'no rules' : `${added} runtime rules`}): p50 ${s.p50Ms.toFixed(2)} ms, p95 ${s.p95Ms.toFixed(2)} ms, max ${s.maxMs.toFixed(2)} ms ` +
          `(POST ${s.addP50Ms.toFixed(2)}, DELETE ${s.removeP50Ms.toFixed(2)} ms median) over ${s.pairs} pairs`,
      );
    }
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`  scope-roundtrip: failed: ${result.error}`);
  } finally {
    for (const side of sides) {
      const note = await stopSide(side);
      if (note !== undefined) result.notes.push(`proxy ${side.name}: ${note}`);
      const counts = scanProxyLog(side.running.service?.logFile);
      if (counts.warnings > 0) result.notes.push(`proxy ${side.name}: log has ${counts.warnings} warn/error line(s), first: ${counts.firstWarning ?? ''}`);
    }
  }
  for (const note of result.notes) log(`  scope-roundtrip: note: ${note}`);
  return result;
}

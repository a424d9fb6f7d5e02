/**
 * The rule probes of issue 4: measurements that are not a wrk row of the table, each with its own
 * no-rule baseline measured side by side in the same run.
 *
 *   fpse-rewrite  an FPSE `server version` rewrite's latency over the same call unmodified
 *                 (fpse-latency.ts)
 *   mapi-stream   a NotificationWait long poll's keep-alive timing with a MAPI/HTTP
 *                 serverVersion rewrite, against no rule and against no proxy
 *                 (mapi-stream-timing.ts)
 *
 * and those of issue 5 (https-hosts.ts), which have bounds rather than baselines:
 *
 *   https-new-host   the first request to a host the proxy has not seen (leaf issue, both
 *                    handshakes), median over distinct hosts
 *   https-hosts-rss  the proxy's peak RSS after 1,000 distinct hosts
 *
 * and that of issue 6 (record-har.ts), with bounds too:
 *
 *   har-100k         `har` converting a 100,000-exchange journal: wall time and peak RSS
 *
 * and that of issue 22 (scope-roundtrip.ts), with a bound:
 *
 *   scope-roundtrip  POST /api/scopes + DELETE on one keep-alive connection, with no rules and
 *                    with 100 runtime rules in force
 *
 * and that of issue 23 (ui-feed.ts), with bounds and a same-run ratio:
 *
 *   ui-feed          the web UI open in headless Chromium under a paced ~1,000 exchanges/s
 *
 * and one for the same-run ratios of issues 3, 4, 6, 8 and 22 (interleaved.ts):
 *
 *   interleaved      each pair of subjects up at once, the load alternating between them in
 *                    2 s slices, so that the machine's drift falls on both alike
 *
 * Each runs once per run, after the table's subjects; their acceptance lines follow the table's,
 * from medians over runs of per-run differences (as the table's ratios are).
 */
import { measureFpseLatency, type FpseLatencyRun } from './fpse-latency.js';
import { interleavedLines, measureInterleaved, type InterleavedRun } from './interleaved.js';
import { measureHostsRss, measureNewHost, type HostsRssRun, type NewHostRun } from './https-hosts.js';
import type { BenchConfig } from './measure.js';
import { measureMapiStream, REWRITTEN_SERVER, type MapiStreamRun, type Series } from './mapi-stream-timing.js';
import { ms, signedMs } from './probe-kit.js';
import { HAR_MAX_RSS_MB, HAR_MAX_SECONDS, measureHar, type HarRun } from './record-har.js';
import { measureScopeRoundTrip, SCOPE_MAX_P50_MS, type ScopeRoundTripRun, type ScopeSide } from './scope-roundtrip.js';
import type { Context } from './subjects.js';
import { measureUiFeed, type UiFeedRun } from './ui-feed.js';
import { uiFeedLines } from './ui-lines.js';
import { median } from './table.js';

export const PROBE_IDS = ['fpse-rewrite', 'mapi-stream', 'https-new-host', 'https-hosts-rss', 'har-100k', 'scope-roundtrip', 'ui-feed', 'interleaved'] as const;
export type ProbeId = (typeof PROBE_IDS)[number];
export type ProbeRun = FpseLatencyRun | MapiStreamRun | NewHostRun | HostsRssRun | HarRun | ScopeRoundTripRun | UiFeedRun | InterleavedRun;
/** The probes that need the HTTPS upstream (bench/https-upstream.ts). */
export const HTTPS_PROBES: readonly ProbeId[] = ['https-new-host', 'https-hosts-rss'];
/** The rule probes of issue 4 (FPSE and MAPI/HTTP simulators, a pair of proxies). */
export const RULE_PROBES: readonly ProbeId[] = ['fpse-rewrite', 'mapi-stream'];

/** Acceptance bounds of issue 4. */
export const FPSE_MAX_DELTA_MS = 1;
export const MAPI_MAX_EXTRA_DELTA_MS = 5;
/** Acceptance bounds of issue 5. */
export const NEW_HOST_MAX_MS = 30;
export const HOSTS_RSS_MAX_MB = 200;

export function isProbeId(id: string): id is ProbeId {
  return (PROBE_IDS as readonly string[]).includes(id);
}

export function runProbe(id: ProbeId, ctx: Context, cfg: BenchConfig, run: number, log: (line: string) => void): Promise<ProbeRun> {
  switch (id) {
    case 'fpse-rewrite':
      log(' FPSE server version rewrite latency');
      return measureFpseLatency(ctx, cfg, run, log);
    case 'mapi-stream':
      log(' MAPI/HTTP serverVersion rewrite, long-poll timing');
      return measureMapiStream(ctx, cfg, run, log);
    case 'https-new-host':
      log(` HTTPS, first request to a new host (${cfg.newHosts} hosts after ${cfg.hostsWarmup} untimed)`);
      return measureNewHost(ctx, cfg, run, log);
    case 'https-hosts-rss':
      log(` HTTPS, peak RSS after ${cfg.rssHosts} distinct hosts (${cfg.rssConcurrency} at once)`);
      return measureHostsRss(ctx, cfg, run, log);
    case 'har-100k':
      log(' HAR of a 100,000-exchange journal (./proxy har)');
      return measureHar(ctx, cfg, run, log);
    case 'scope-roundtrip':
      log(` control API scope add + remove round trip (${cfg.scopePairs} pairs a side after ${cfg.scopeWarmup} untimed)`);
      return measureScopeRoundTrip(ctx, cfg, run, log);
    case 'ui-feed':
      log(` web UI open in headless Chromium under ~1,000 exchanges/s (${cfg.quick ? 5 : 30} s), and the same load with no page`);
      return measureUiFeed(ctx, cfg, run, log);
    case 'interleaved':
      log(' same-run ratios, interleaved: both subjects up, the load alternating in 2 s slices');
      return measureInterleaved(ctx, cfg, run, log);
  }
}

const yesNo = (ok: boolean): string => (ok ? 'yes' : 'no');
const med = (values: Array<number | undefined>): number | undefined => median(values.filter((v): v is number => v !== undefined));
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

/** The acceptance lines of the probes that ran (none when no probe was selected). */
export function probeLines(all: ProbeRun[], selected: readonly ProbeId[]): string[] {
  const lines: string[] = [];
  if (selected.includes('fpse-rewrite')) lines.push(...fpseLines(all.filter((r): r is FpseLatencyRun => r.probe === 'fpse-rewrite')));
  if (selected.includes('mapi-stream')) lines.push(...mapiLines(all.filter((r): r is MapiStreamRun => r.probe === 'mapi-stream')));
  if (selected.includes('https-new-host')) lines.push(...newHostLines(all.filter((r): r is NewHostRun => r.probe === 'https-new-host')));
  if (selected.includes('https-hosts-rss')) lines.push(...hostsRssLines(all.filter((r): r is HostsRssRun => r.probe === 'https-hosts-rss')));
  if (selected.includes('har-100k')) lines.push(...harLines(all.filter((r): r is HarRun => r.probe === 'har-100k')));
  if (selected.includes('scope-roundtrip')) lines.push(...scopeLines(all.filter((r): r is ScopeRoundTripRun => r.probe === 'scope-roundtrip')));
  if (selected.includes('ui-feed')) lines.push(...uiFeedLines(all.filter((r): r is UiFeedRun => r.probe === 'ui-feed')));
  if (selected.includes('interleaved')) lines.push(...interleavedLines(all.filter((r): r is InterleavedRun => r.probe === 'interleaved')));
  return lines;
}

/** Issue 22: one line per side (no rules, 100 runtime rules), medians over runs of per-run percentiles. */
function scopeLines(runs: ScopeRoundTripRun[]): string[] {
  const ok = runs.filter((r) => r.error === undefined);
  const failed = runs.find((r) => r.error !== undefined)?.error;
  const heads: Record<ScopeSide, string> = {
    empty: `Scope add + remove round trip (POST /api/scopes with one rule + DELETE, one keep-alive connection) p50 ≤ ${SCOPE_MAX_P50_MS} ms`,
    rules100: `The same with 100 runtime rules in force (the rule set recompiled on each change) p50 ≤ ${SCOPE_MAX_P50_MS} ms`,
  };
  return (['empty', 'rules100'] as const).map((side) => {
    const measured = ok.map((r) => r.series[side]).filter((s) => s !== undefined);
    if (measured.length === 0) return `${heads[side]}: ${failed === undefined ? 'n/a' : `no (${failed})`}`;
    const p = (key: 'p50Ms' | 'p95Ms' | 'maxMs' | 'addP50Ms' | 'removeP50Ms'): number => med(measured.map((s) => s[key]))!;
    return (
      `${heads[side]}: ${yesNo(p('p50Ms') <= SCOPE_MAX_P50_MS)} (p50 ${ms(p('p50Ms'))}, p95 ${ms(p('p95Ms'))}, max ${ms(p('maxMs'))}; POST ${ms(p('addP50Ms'))}, DELETE ${ms(p('removeP50Ms'))} median; ` +
      `${measured[0]!.pairs} pairs, the two proxies alternating; medians over runs${ok.length < runs.length ? `; ${ok.length} of ${runs.length} runs counted` : ''})`
    );
  });
}

/** Issue 6: time is the median over runs; RSS, a limit, the maximum over runs. */
function harLines(runs: HarRun[]): string[] {
  const ok = runs.filter((r) => r.error === undefined && r.seconds !== undefined);
  const failed = runs.find((r) => r.error !== undefined)?.error;
  const head = `HAR of ${(runs[0]?.exchanges ?? 0).toLocaleString('en-US')} exchanges`;
  if (ok.length === 0) return [`${head}: ${failed === undefined ? 'n/a' : `no (${failed})`}`];
  const seconds = med(ok.map((r) => r.seconds))!;
  const rss = Math.max(...ok.map((r) => r.rssPeak ?? 0)) / 1e6;
  const mb = (values: Array<number | undefined>): string => `${((med(values) ?? 0) / 1e6).toFixed(0)} MB`;
  const first = ok[0]!;
  const mix = first.journal?.mix;
  const cpu = med(ok.map((r) => r.cpuSeconds));
  return [
    `${head}: ${seconds.toFixed(1)} s (target < ${HAR_MAX_SECONDS} s: ${yesNo(seconds < HAR_MAX_SECONDS)}), peak RSS ${rss.toFixed(0)} MB (target < ${HAR_MAX_RSS_MB} MB: ${yesNo(rss < HAR_MAX_RSS_MB)}) ` +
      `(journal ${mb(ok.map((r) => r.journal?.bytes))} → HAR ${mb(ok.map((r) => r.harBytes))}, ${(first.entries ?? 0).toLocaleString('en-US')} entries; CPU ${cpu === undefined ? 'n/a' : `${cpu.toFixed(1)} s`}; ` +
      `time the median over runs, RSS the maximum${ok.length < runs.length ? `; ${ok.length} of ${runs.length} runs counted` : ''})`,
    ...(mix === undefined
      ? []
      : [
          `HAR probe's journal (information): ${mix.get.toLocaleString('en-US')} plain GET (a fifth gzip), ${mix.fpse.toLocaleString('en-US')} FPSE RPC, ${mix.mapi.toLocaleString('en-US')} MAPI/HTTP (binary bodies), ` +
            `${mix.tunnel.toLocaleString('en-US')} CONNECT tunnels, ${mix.error.toLocaleString('en-US')} proxy errors, ${mix.big} bodies of ~200 KB; written in ${first.journal!.seconds.toFixed(1)} s`,
        ]),
  ];
}

function newHostLines(runs: NewHostRun[]): string[] {
  const ok = runs.filter((r) => r.error === undefined && r.p50 !== undefined);
  const failed = runs.find((r) => r.error !== undefined)?.error;
  const asked = runs[0]?.asked ?? 0;
  const head = `HTTPS first request to a new host (CONNECT written → first answer byte: leaf issue + both handshakes) ≤ ${NEW_HOST_MAX_MS} ms median over ${asked} hosts`;
  if (ok.length === 0) return [`${head}: ${failed === undefined ? 'n/a' : `no (${failed})`}`];
  const m = med(ok.map((r) => r.p50?.firstByteMs))!;
  const step = (k: 'issueMs' | 'clientTlsMs' | 'upstreamMs'): string => ms(med(ok.map((r) => r.steps?.[k])));
  return [
    `${head}: ${yesNo(m <= NEW_HOST_MAX_MS)} (median ${ms(m)}, p90 ${ms(med(ok.map((r) => r.p90FirstByteMs)))}, p99 ${ms(med(ok.map((r) => r.p99FirstByteMs)))}, ` +
      `max ${ms(med(ok.map((r) => r.maxFirstByteMs)))}; one host at a time after ${ok[0]!.warmup} untimed; medians over runs${ok.length < runs.length ? `; ${ok.length} of ${runs.length} runs counted` : ''})`,
    `HTTPS new host, where the time goes (medians): CONNECT answered (the proxy has the leaf) ${step('issueMs')}, then the client's TLS handshake ${step('clientTlsMs')}, ` +
      `then the first answer byte (the proxy's upstream TCP + TLS handshake + certificate check, the request) ${step('upstreamMs')}`,
  ];
}

function hostsRssLines(runs: HostsRssRun[]): string[] {
  const ok = runs.filter((r) => r.error === undefined && r.rssPeak !== undefined);
  const failed = runs.find((r) => r.error !== undefined)?.error;
  const asked = runs[0]?.asked ?? 0;
  const head = `HTTPS peak RSS after ${asked.toLocaleString('en-US')} distinct hosts < ${HOSTS_RSS_MAX_MB} MB`;
  if (ok.length === 0) return [`${head}: ${failed === undefined ? 'n/a' : `no (${failed})`}`];
  // A limit is about the worst case: the maximum over runs, as the table's RSS column.
  const peak = Math.max(...ok.map((r) => r.rssPeak!)) / 1e6;
  const mb = (values: Array<number | undefined>): string => {
    const m = med(values);
    return m === undefined ? 'n/a' : `${(m / 1e6).toFixed(0)} MB`;
  };
  const first = ok[0]!;
  return [
    `${head}: ${yesNo(peak < HOSTS_RSS_MAX_MB)} (${peak.toFixed(0)} MB peak since start, max over runs; RSS ${mb(ok.map((r) => r.rssStart))} when started, ${mb(ok.map((r) => r.rssEnd))} after the hosts; ` +
      `one request each on its own connection, ${first.concurrency} hosts at once, ${med(ok.map((r) => r.seconds))?.toFixed(1) ?? '?'} s${ok.length < runs.length ? `; ${ok.length} of ${runs.length} runs counted` : ''})`,
  ];
}

function fpseLines(runs: FpseLatencyRun[]): string[] {
  const head = `FPSE server version rewrite adds ≤ ${FPSE_MAX_DELTA_MS} ms median latency over the same call unmodified`;
  const ok = runs.filter((r) => r.error === undefined);
  const failed = runs.find((r) => r.error !== undefined)?.error;
  const counted = `${ok.length} of ${runs.length} runs counted`;
  const lines: string[] = [];
  if (ok.length === 0) {
    lines.push(`${head}: ${failed === undefined ? 'n/a' : `no (${failed})`}`);
  } else {
    const delta = med(ok.map((r) => r.p50DeltaMs))!;
    const p = (side: 'plain' | 'rewrite', key: 'p50Ms' | 'p99Ms'): number | undefined => med(ok.map((r) => r[side]?.[key]));
    lines.push(
      `${head}: ${yesNo(delta <= FPSE_MAX_DELTA_MS)} (${signedMs(delta, 3)}: median ${ms(p('rewrite', 'p50Ms'), 3)} rewritten, ${ms(p('plain', 'p50Ms'), 3)} unmodified; ` +
        `p99 ${ms(p('rewrite', 'p99Ms'))} / ${ms(p('plain', 'p99Ms'))}; ${ok[0]!.requests} sequential requests each side, one keep-alive connection each, alternating; ` +
        `medians over runs of per-run medians${ok.length < runs.length ? `; ${counted}` : ''})`,
    );
  }
  const rewritten = sum(runs.map((r) => r.rewrittenAnswers));
  const unmodified = sum(runs.map((r) => r.unmodifiedAnswers));
  const applied = sum(runs.map((r) => r.ruleApplied ?? 0));
  const allRewritten = runs.length > 0 && runs.every((r) => r.error === undefined);
  lines.push(
    `FPSE answers through the rule carry 5.0.2.6790 (method line and server version list): ${runs.length === 0 ? 'n/a' : yesNo(allRewritten)}, ` +
      `${rewritten} rewritten answers, ${applied} "rule applied" log lines; ${unmodified} answers without rules were the simulator's own 14.0.0.6029 (warm-up and timed, all runs)`,
  );
  return lines;
}

function mapiLines(runs: MapiStreamRun[]): string[] {
  const head = `MAPI/HTTP serverVersion rewrite keeps the long poll's timing (worst extra delay of a keep-alive ≤ ${MAPI_MAX_EXTRA_DELTA_MS} ms over no rule)`;
  const ok = runs.filter((r) => r.error === undefined && r.maxExtraDeltaMs !== undefined);
  const failed = runs.find((r) => r.error !== undefined)?.error;
  const lines: string[] = [];
  const series = (s: Series, key: 'maxExtraMs' | 'p50ExtraMs' | 'p50FirstPieceMs'): number | undefined => med(ok.map((r) => r.series[s]?.[key]));
  if (ok.length === 0) {
    lines.push(`${head}: ${failed === undefined ? 'n/a' : `no (${failed})`}`);
  } else {
    const delta = med(ok.map((r) => r.maxExtraDeltaMs))!;
    const first = ok[0]!;
    lines.push(
      `${head}: ${yesNo(delta <= MAPI_MAX_EXTRA_DELTA_MS)} (${signedMs(delta)}: worst piece ${ms(series('rewrite', 'maxExtraMs'))} late with the rule, ` +
        `${ms(series('plain', 'maxExtraMs'))} without, ${ms(series('direct', 'maxExtraMs'))} with no proxy; ` +
        `median piece ${ms(series('rewrite', 'p50ExtraMs'))} / ${ms(series('plain', 'p50ExtraMs'))} / ${ms(series('direct', 'p50ExtraMs'))}; ` +
        `${first.series.rewrite?.polls ?? 0} long polls each, ${first.series.rewrite?.pieces ?? 0} PENDING/DONE pieces each, PENDING every ${first.pendingMs} ms; ` +
        `medians over runs${ok.length < runs.length ? `; ${ok.length} of ${runs.length} runs counted` : ''})`,
    );
    lines.push(
      `MAPI/HTTP long poll, request to head and PROCESSING at the client (information): rewrite ${ms(series('rewrite', 'p50FirstPieceMs'))}, ` +
        `no rule ${ms(series('plain', 'p50FirstPieceMs'))}, no proxy ${ms(series('direct', 'p50FirstPieceMs'))} (medians)`,
    );
  }
  const answers = sum(runs.map((r) => r.series.rewrite?.answers ?? 0));
  const rewritten = sum(runs.map((r) => r.series.rewrite?.expectedServer ?? 0));
  const plainAnswers = sum(runs.map((r) => r.series.plain?.answers ?? 0));
  const plainOwn = sum(runs.map((r) => r.series.plain?.expectedServer ?? 0));
  const applied = sum(runs.map((r) => r.ruleApplied ?? 0));
  lines.push(
    `MAPI/HTTP client sees the rewritten X-ServerApplication: ${answers === 0 ? 'n/a' : yesNo(rewritten === answers)}, ${REWRITTEN_SERVER} on ${rewritten} of ${answers} answers through the rule ` +
      `(Connect and NotificationWait; ${applied} "rule applied" log lines); the simulator's own on ${plainOwn} of ${plainAnswers} without it`,
  );
  return lines;
}

/** Errors and notes of the probes, once per distinct text, with the runs they happened in. */
export function probeNotes(all: ProbeRun[]): string[] {
  const seen = new Map<string, number[]>();
  for (const r of all) {
    for (const text of [...(r.error === undefined ? [] : [`failed: ${r.error}`]), ...r.notes]) {
      const key = `${r.probe}: ${text}`;
      seen.set(key, [...(seen.get(key) ?? []), r.run]);
    }
  }
  return [...seen].map(([text, runs]) => `${text} (run ${runs.join(', ')})`);
}

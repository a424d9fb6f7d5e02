/**
 * One subject, one run: start it, warm it up, run the small-response load, then the large
 * download and upload, reading its peak RSS after each phase, and stop it. Every phase fails
 * soft: its error is recorded and the row says so, the other phases and subjects still run.
 * A load-only subject (the MAPI rows) skips the streams; a MAPI subject's load counts only when
 * our proxy's log shows it recognised the exchanges as MAPI/HTTP, its unobserved baseline's only
 * when the log shows no exchange observed by any protocol observer (no "proto" field). A row run
 * with rules (issue 4) counts only when the log shows them all loaded and none applied.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { ControlChecks, RulesInForce } from './control.js';
import { cpuSeconds } from './cpu.js';
import type { FeedCounts } from './feed-subscriber.js';
import { download, upload, type StreamResult } from './curl.js';
import { isRunning } from './proc.js';
import type { HttpsLoad } from './https.js';
import { measureHttpsLoad } from './https.js';
import { peakRss, resetPeak } from './rss.js';
import { isOurProxy, startSubject, type Context, type Running, type Subject, type SubjectId } from './subjects.js';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.js';
import type { ProbeId } from './probes.js';

export interface BenchConfig {
  runs: number;
  quick: boolean;
  /** Table subjects and probes (bench/probes.ts) selected with --only. */
  only: Array<SubjectId | ProbeId>;
  loadSeconds: number;
  warmupSeconds: number;
  streamBytes: number;
  connections: number;
  threads: number;
  /** FPSE rewrite latency probe: sequential requests per side, after this many warm-up ones. */
  fpseRequests: number;
  fpseWarmup: number;
  /** MAPI/HTTP stream timing probe: long polls per side, and the simulator's PENDING period. */
  mapiPolls: number;
  mapiPendingMs: number;
  /** Issue 5 probes: distinct hosts visited one after another, timed (new-host latency); hosts
   * visited for the peak RSS; untimed hosts first (warm-up); hosts in flight at once for the RSS. */
  newHosts: number;
  rssHosts: number;
  hostsWarmup: number;
  rssConcurrency: number;
  /** Issue 22's scope probe (scope-roundtrip.ts): timed add + remove pairs per side, after untimed ones. */
  scopePairs: number;
  scopeWarmup: number;
  /** The soak (soak.ts): minutes, 0 for none. */
  soakMinutes: number;
}

export interface Tools {
  wrk: string;
  curl: string;
  uploadFile: string;
}

export interface SubjectRun {
  subject: SubjectId;
  run: number;
  /** The subject could not be started (or was skipped): nothing else was measured. */
  startError?: string;
  load?: WrkResult;
  loadError?: string;
  down?: StreamResult;
  downError?: string;
  up?: StreamResult;
  upError?: string;
  /** Peak RSS in bytes during the small-response load, and during the two large streams. */
  rssLoad?: number;
  rssStream?: number;
  /** CPU seconds the subject process used during the small-response load (not the warm-up). */
  cpuLoad?: number;
  /** Requests wrk completed in the warm-up (they are in our proxy's log too). */
  warmupRequests?: number;
  /** MAPI rows: exchange lines in our proxy's log whose summary says `mapihttp Execute`, and the
   * requests wrk completed (warm-up and load) that they should match. */
  mapiExchanges?: number;
  mapiSent?: number;
  /** The unobserved MAPI-shaped baseline: exchange lines with a `"proto"` field (there must be
   * none), and exchange lines in all. */
  protoExchanges?: number;
  logExchanges?: number;
  /** A row run with --rules: the rule count of the proxy's `rules loaded` line, and its exchange
   * lines that list a rule (`"rules":[…]`; there must be none). */
  rulesLoaded?: number;
  ruleExchanges?: number;
  /** Issue 22, `forward-control`: what its feed subscriber counted, and the requests wrk
   * completed (warm-up and load) whose events it should have read. */
  feed?: FeedCounts;
  feedSent?: number;
  /** Issue 22, `forward-rules100-runtime`: the rules in force after the load (`GET /api/rules`). */
  runtimeRules?: RulesInForce;
  /** The HTTPS rows (issue 5): both sides of the Node client's load, HTTPS (also in `load`,
   * `cpuLoad`) and plain HTTP through the same process, the baseline. */
  https?: HttpsLoad;
  /** Anything odd that did not fail a phase (warnings, unclean exit, log problems). */
  notes: string[];
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The small-response (or MAPI-shaped) load of a subject listening on `port`, all but its length. */
export function loadOptions(subject: Subject, port: number, ctx: Context, cfg: BenchConfig, wrk: string): Omit<WrkOptions, 'seconds'> {
  return {
    wrk,
    connectPort: port,
    ...(subject.mode === 'forward' ? { forwardTo: ctx.upstreamPort } : {}),
    connections: cfg.connections,
    threads: cfg.threads,
    workDir: ctx.workDir,
    traffic: subject.traffic ?? 'small',
  };
}

export async function measure(subject: Subject, ctx: Context, cfg: BenchConfig, tools: Tools, run: number, log: (line: string) => void): Promise<SubjectRun> {
  const result: SubjectRun = { subject: subject.id, run, notes: [] };
  if (subject.unavailable !== undefined) {
    result.startError = subject.unavailable;
    return result;
  }
  let running: Running;
  try {
    running = await startSubject(subject, ctx);
  } catch (err) {
    result.startError = message(err);
    log(`  ${subject.label}: failed to start: ${result.startError}`);
    return result;
  }

  const alive = (): void => {
    if (running.service !== undefined && !isRunning(running.service)) {
      const c = running.service.child;
      throw new Error(`${subject.label} exited (${String(c.exitCode ?? c.signalCode)}) during the run`);
    }
  };
  const wrkOptions = loadOptions(subject, running.port, ctx, cfg, tools.wrk);
  const stream = {
    curl: tools.curl,
    urlPort: subject.mode === 'forward' ? ctx.upstreamPort : running.port,
    ...(subject.mode === 'forward' ? { proxyPort: running.port } : {}),
    bytes: cfg.streamBytes,
    // Generous: 5 MB/s would be a broken subject, not a slow one.
    timeoutSeconds: Math.max(60, Math.ceil(cfg.streamBytes / 5e6)),
  };
  const pid = running.pid;
  let checks: ControlChecks | undefined;

  try {
    if (subject.client === 'node-https') {
      // Issue 5: the Node client's HTTPS and plain loads, alternating (bench/https.ts); no streams.
      try {
        alive();
        await measureHttpsLoad(subject, running, ctx, cfg, run, result, log);
        alive();
      } catch (err) {
        result.loadError = message(err);
        log(`  ${subject.label}: load failed: ${result.loadError}`);
      }
    } else {
      // Warm-up: JIT, connection pools and buffers settle before anything is counted.
      try {
        result.warmupRequests = (await runWrk({ ...wrkOptions, seconds: cfg.warmupSeconds })).requests;
      } catch (err) {
        result.notes.push(`warm-up: ${message(err)}`);
      }

      try {
        alive();
        if (pid !== undefined && !resetPeak(pid)) result.notes.push('could not reset peak RSS (clear_refs)');
        const cpuBefore = pid === undefined ? undefined : cpuSeconds(pid);
        result.load = await runWrk({ ...wrkOptions, seconds: cfg.loadSeconds });
        const cpuAfter = pid === undefined ? undefined : cpuSeconds(pid);
        if (cpuBefore !== undefined && cpuAfter !== undefined) result.cpuLoad = cpuAfter - cpuBefore;
        if (result.load.warning !== undefined) result.notes.push(`load: ${result.load.warning}`);
        alive();
        if (pid !== undefined) result.rssLoad = peakRss(pid);
        const cpu = result.cpuLoad === undefined ? '' : `, ${((result.cpuLoad / result.load.requests) * 1e6).toFixed(0)} µs CPU/request`;
        log(`  ${subject.label}: ${Math.round(result.load.rps)} req/s, p50 ${(result.load.p50Us / 1000).toFixed(2)} ms, p99 ${(result.load.p99Us / 1000).toFixed(2)} ms${cpu}`);
      } catch (err) {
        result.loadError = message(err);
        log(`  ${subject.label}: load failed: ${result.loadError}`);
      }

      // The streams, unless the row measures the load only (then their cells say "–").
      if (subject.loadOnly !== true) await streams();
    }
    if (pid !== undefined) {
      const mb = (b: number | undefined): string => (b === undefined ? '?' : (b / 1e6).toFixed(0));
      const streamsRss = subject.loadOnly === true ? '' : `, ${mb(result.rssStream)} MB streams`;
      log(`  ${subject.label}: peak RSS ${mb(result.rssLoad)} MB load${streamsRss}`);
    }
  } finally {
    // Issue 22: what the control server says, while it is still up (and the feed subscriber's counts).
    if (running.controlChecks !== undefined) checks = await running.controlChecks();
    const stopNote = await running.stop();
    if (stopNote !== undefined) result.notes.push(stopNote);
  }

  async function streams(): Promise<void> {
    if (pid !== undefined) resetPeak(pid);
    try {
      alive();
      result.down = await download(stream);
      log(`  ${subject.label}: download ${(result.down.bytesPerSecond / 1e6).toFixed(0)} MB/s`);
    } catch (err) {
      result.downError = message(err);
      log(`  ${subject.label}: download failed: ${result.downError}`);
    }
    try {
      alive();
      result.up = await upload(stream, tools.uploadFile);
      log(`  ${subject.label}: upload ${(result.up.bytesPerSecond / 1e6).toFixed(0)} MB/s`);
    } catch (err) {
      result.upError = message(err);
      log(`  ${subject.label}: upload failed: ${result.upError}`);
    }
    if (pid !== undefined && running.service !== undefined && isRunning(running.service)) result.rssStream = peakRss(pid);
  }

  if (isOurProxy(subject.id)) {
    const { notes, mapiExchanges, protoExchanges, exchanges, rulesLoaded, ruleExchanges } = await proxyLog(running.service?.logFile, result);
    result.notes.push(...notes);
    if (subject.traffic === 'mapi') checkMapi(result, mapiExchanges, subject.label, log);
    if (subject.traffic === 'mapi-plain') checkUnobserved(result, protoExchanges, exchanges, subject.label, log);
    if (subject.rules !== undefined) checkRules(result, subject.rules.count, rulesLoaded, ruleExchanges ?? 0, exchanges ?? 0, subject.label, log);
    if (subject.control?.feed === true) checkFeed(result, checks ?? {}, subject.label, log);
    if (subject.control?.runtimeRules !== undefined) checkRuntimeRules(result, subject.control.runtimeRules.count, checks ?? {}, ruleExchanges ?? 0, exchanges ?? 0, subject.label, log);
  }
  for (const note of result.notes) log(`  ${subject.label}: note: ${note}`);
  return result;
}

export const MAPI_UNRECOGNISED = 'the proxy did not recognise the traffic as MAPI/HTTP';

/**
 * A MAPI row measures the proxy's protocol observer only if it ran: with no exchange summarised
 * as `mapihttp Execute` in the log, the load's numbers are those of plain pass-through and do
 * not count (the row says why). Fewer such lines than requests sent is worth a note.
 */
function checkMapi(r: SubjectRun, lines: number | undefined, label: string, log: (line: string) => void): void {
  r.mapiExchanges = lines ?? 0;
  const sent = (r.warmupRequests ?? 0) + (r.load?.requests ?? 0);
  r.mapiSent = sent;
  log(`  ${label}: ${r.mapiExchanges} "proto":"mapihttp Execute…" line(s) in the proxy's log for ${sent} requests (warm-up and load)`);
  if (r.mapiExchanges === 0 && r.load !== undefined) {
    r.loadError = `${MAPI_UNRECOGNISED} (no "proto":"mapihttp Execute…" line in its log for ${sent} requests; ${Math.round(r.load.rps)} req/s not counted)`;
    delete r.load;
    delete r.cpuLoad;
  } else if (r.mapiExchanges < sent) {
    r.notes.push(`only ${r.mapiExchanges} of ${sent} requests were logged as "mapihttp Execute"`);
  }
}

export const BASELINE_OBSERVED = 'the proxy observed the baseline traffic as a protocol';

/**
 * The unobserved MAPI-shaped baseline measures the MAPI shape without the observer only if no
 * exchange was observed: any exchange line with a `"proto"` field means some observer claimed
 * the disguised requests, and the load's numbers do not count (the row says why).
 */
function checkUnobserved(r: SubjectRun, proto: number | undefined, exchanges: number | undefined, label: string, log: (line: string) => void): void {
  r.protoExchanges = proto ?? 0;
  r.logExchanges = exchanges ?? 0;
  const sent = (r.warmupRequests ?? 0) + (r.load?.requests ?? 0);
  r.mapiSent = sent;
  log(`  ${label}: ${r.protoExchanges} of ${r.logExchanges} exchange line(s) in the proxy's log have a "proto" field (must be 0) for ${sent} requests (warm-up and load)`);
  if (r.protoExchanges > 0 && r.load !== undefined) {
    r.loadError = `${BASELINE_OBSERVED} (${r.protoExchanges} "proto" line(s) in its log; ${Math.round(r.load.rps)} req/s not counted)`;
    delete r.load;
    delete r.cpuLoad;
  }
}

export const RULES_NOT_LOADED = 'the proxy did not load the rule file';
export const RULES_APPLIED = 'a rule applied to the bench traffic';

/**
 * A row run with rules measures "rules loaded, none matching" only if both hold: the proxy's
 * `rules loaded` line counts every rule of the file, and no exchange line lists a rule. Otherwise
 * the load's numbers measure something else and do not count (the row says why).
 */
function checkRules(r: SubjectRun, expected: number, loaded: number | undefined, applied: number, exchanges: number, label: string, log: (line: string) => void): void {
  r.rulesLoaded = loaded ?? 0;
  r.ruleExchanges = applied;
  r.logExchanges = exchanges;
  log(`  ${label}: ${r.rulesLoaded} rule(s) loaded (${expected} expected), ${applied} of ${exchanges} exchange line(s) list a rule (must be 0)`);
  if (r.load === undefined) return;
  const rps = `${Math.round(r.load.rps)} req/s not counted`;
  if (r.rulesLoaded !== expected) r.loadError = `${RULES_NOT_LOADED} (${r.rulesLoaded} of ${expected} rules in its "rules loaded" line; ${rps})`;
  else if (applied > 0) r.loadError = `${RULES_APPLIED} (${applied} exchange line(s) list a rule; ${rps})`;
  else return;
  delete r.load;
  delete r.cpuLoad;
}

export const FEED_NOT_READ = 'no live feed subscriber read the load';

/**
 * Issue 22: `forward-control` measures the proxy with a live feed subscriber only if one read the
 * load's events: without its counts, or with no `finished` event, the load's numbers are those of
 * a proxy without a subscriber and do not count (the row says why). Events the proxy dropped for
 * it (`missed`) or fewer events than requests completed are worth a note.
 */
function checkFeed(r: SubjectRun, checks: ControlChecks, label: string, log: (line: string) => void): void {
  const sent = (r.warmupRequests ?? 0) + (r.load?.requests ?? 0);
  r.feedSent = sent;
  const feed = checks.feed;
  if (feed !== undefined) {
    r.feed = feed;
    log(`  ${label}: the feed subscriber read ${feed.finished} finished (${feed.finishedSmall} GET /small) and ${feed.started} started events, ${feed.missed} missed, for ${sent} requests (warm-up and load)`);
  }
  if (r.load === undefined) return;
  const reason = checks.feedError ?? (feed === undefined || feed.finished === 0 ? `it read no finished event${feed !== undefined && feed.unparsed > 0 ? ` (${feed.unparsed} messages it could not read)` : ''}` : undefined);
  if (reason !== undefined) {
    r.loadError = `${FEED_NOT_READ} (${reason}; ${Math.round(r.load.rps)} req/s not counted)`;
    delete r.load;
    delete r.cpuLoad;
    return;
  }
  if (feed!.missed > 0) r.notes.push(`the proxy dropped ${feed!.missed} events for the feed subscriber (${feed!.missedMessages} "missed" messages): it did not keep up`);
  if (feed!.finishedSmall + feed!.missed < sent) r.notes.push(`the feed subscriber read ${feed!.finishedSmall} finished GET /small events (and ${feed!.missed} missed) for ${sent} requests completed`);
  if (feed!.unparsed > 0) r.notes.push(`${feed!.unparsed} feed message(s) did not open with {"seq":N,"type":"…"} (bench/feed-subscriber.ts reads that head)`);
  if (feed!.closed !== undefined) r.notes.push(`the proxy closed the feed during the run (${feed!.closed.code} ${feed!.closed.reason})`);
}

export const RUNTIME_RULES_NOT_IN_FORCE = 'the runtime rules were not in force after the load';

/**
 * Issue 22: `forward-rules100-runtime` measures "runtime rules, none matching" only if, after the
 * load, `GET /api/rules` still lists every rule as a runtime rule with no hit, and no exchange line
 * lists a rule; otherwise the load's numbers do not count (the row says why).
 */
function checkRuntimeRules(r: SubjectRun, expected: number, checks: ControlChecks, applied: number, exchanges: number, label: string, log: (line: string) => void): void {
  r.ruleExchanges = applied;
  r.logExchanges = exchanges;
  const rules = checks.rules;
  if (rules !== undefined) {
    r.runtimeRules = rules;
    r.rulesLoaded = rules.runtime;
    log(`  ${label}: GET /api/rules: ${rules.runtime} runtime rule(s) of ${rules.total} in force (${expected} expected), ${rules.hits} hit(s); ${applied} of ${exchanges} exchange line(s) list a rule (must be 0)`);
  }
  if (r.load === undefined) return;
  const rps = `${Math.round(r.load.rps)} req/s not counted`;
  if (rules === undefined) r.loadError = `${RUNTIME_RULES_NOT_IN_FORCE} (${checks.rulesError ?? 'GET /api/rules was not asked'}; ${rps})`;
  else if (rules.runtime !== expected || rules.total !== expected) r.loadError = `${RUNTIME_RULES_NOT_IN_FORCE} (${rules.runtime} runtime of ${rules.total} rules listed, ${expected} expected; ${rps})`;
  else if (applied > 0 || rules.hits > 0) r.loadError = `${RULES_APPLIED} (${applied} exchange line(s) list a rule, ${rules.hits} hit(s) in GET /api/rules; ${rps})`;
  else return;
  delete r.load;
  delete r.cpuLoad;
}

/**
 * Our proxy's log, read after it stopped: warn/error lines are worth a note, and so is an
 * exchange count below the requests completed (logging was off, or lines were lost). Also counts
 * the exchanges its MAPI/HTTP observer summarised as Execute requests, and those any protocol
 * observer summarised at all (a `"proto"` field), the rules it loaded (its `rules loaded` line)
 * and the exchanges that list a rule applied, passed or skipped (a `"rules":[` field).
 */
async function proxyLog(
  file: string | undefined,
  r: SubjectRun,
): Promise<{ notes: string[]; mapiExchanges?: number; protoExchanges?: number; exchanges?: number; rulesLoaded?: number; ruleExchanges?: number }> {
  if (file === undefined || !fs.existsSync(file)) return { notes: [] };
  let exchanges = 0;
  let mapiExchanges = 0;
  let protoExchanges = 0;
  let ruleExchanges = 0;
  let rulesLoaded: number | undefined;
  const byLevel = new Map<number, { count: number; first: string }>();
  const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.includes('"msg":"exchange"')) {
      exchanges++;
      if (line.includes('"proto":')) protoExchanges++;
      if (line.includes('"rules":[')) ruleExchanges++;
    } else if (line.includes('"msg":"rules loaded"')) {
      rulesLoaded = loadedCount(line) ?? rulesLoaded;
    }
    if (line.includes('"proto":"mapihttp Execute')) mapiExchanges++;
    const level = /"level":(\d+)/.exec(line);
    if (level === null || Number(level[1]) < 40) continue;
    const n = Number(level[1]);
    const entry = byLevel.get(n) ?? { count: 0, first: line.slice(0, 240) };
    entry.count++;
    byLevel.set(n, entry);
  }
  const notes: string[] = [];
  const names: Record<number, string> = { 40: 'warn', 50: 'error', 60: 'fatal' };
  for (const [level, { count, first }] of [...byLevel].sort((a, b) => a[0] - b[0])) {
    notes.push(`log has ${count} ${names[level] ?? `level-${level}`} line(s), first: ${first}`);
  }
  const requests = (r.load?.requests ?? 0) + (r.down ? 1 : 0) + (r.up ? 1 : 0);
  if (requests > 0 && exchanges < requests) notes.push(`log has ${exchanges} "exchange" lines for ≥ ${requests} completed requests`);
  return { notes, mapiExchanges, protoExchanges, exchanges, ruleExchanges, ...(rulesLoaded !== undefined && { rulesLoaded }) };
}

/** `{"rules":100,"files":[…],"msg":"rules loaded"}` → 100. */
function loadedCount(line: string): number | undefined {
  try {
    const parsed = JSON.parse(line) as { rules?: unknown };
    return typeof parsed.rules === 'number' ? parsed.rules : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Issue 23's bench point, the `ui-feed` probe: the web UI open in headless Chromium while ~1,000
 * exchanges/s pass through the proxy for 30 s (5 s with --quick). Two sides per run, one after the
 * other, the order swapping every run: our proxy as `forward` starts it plus its control server
 * (`--no-record`, a token file of the bench's own), once with the page open (bench/ui-browser.ts, a
 * process of its own at the listening line's `ui` URL) and once with nobody watching. The same
 * paced load on both (bench/ui-load.ts, `GET /small`, after 2 s of warm-up at the same rate).
 *
 * The load is paced, so both sides reach ~1,000 req/s and req/s cannot tell them apart: the
 * proxy's cost is compared as CPU per request over the timed window (/proc/PID/stat, read by
 * the load process as the window opens and closes), which is what bounds its throughput on two
 * cores. The page's own CPU (Chromium's whole process tree) competes for the same two cores and
 * is reported beside it.
 *
 * The page proves itself: a page that never showed a row, or never got ready, fails the probe
 * loudly, and the rows it holds at the end are compared with the exchanges the load completed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlStartArgs, controlUrlFromLog, tokenFileFor } from './control.js';
import { startSubscriber, type Subscriber } from './feed-row.js';
import type { BenchConfig } from './measure.js';
import { scanProxyLog } from './probe-kit.js';
import { isRunning, runTool, startService, stopService, type Service } from './proc.js';
import { PROXY_START, proxyService, type Context, type Running } from './subjects.js';
import { UI_COUNTS, UI_FAILED, UI_READY, type UiCounts } from './ui-messages.js';
import { MAX_IN_FLIGHT, UI_LOAD, type UiLoadResult } from './ui-load.js';

/** Issue 23's figures: the load's rate, the longest task's target, the throughput ratio. */
export const UI_RATE = 1000;
export const UI_MAX_LONG_TASK_MS = 100;
export const UI_MIN_THROUGHPUT_RATIO = 0.9;
/** The list's cap (src/web/rows.ts ROW_CAP); the page should hold every exchange up to it. */
export const UI_ROW_CAP = 100_000;
/** What "bounded" is judged against: the tab's JS heap projected to a full list (a tab's budget). */
export const UI_MAX_HEAP_AT_CAP_MB = 256;
/** The load's length (issue 23: 30 s; --quick: 5 s), after a warm-up at the same rate. */
export const UI_SECONDS = 30;
export const UI_QUICK_SECONDS = 5;
const UI_WARMUP_SECONDS = 2;
const READY_TIMEOUT_MS = 90_000;

/**
 * `feed`: a third side, information only: the same proxy with bench/feed-subscriber.ts (a Node
 * WebSocket reader, issue 22's row) instead of the page, so the line can say how much of the
 * page's cost is the live feed itself and how much is Chromium taking the cores.
 */
export type UiSide = 'ui' | 'plain' | 'feed';
export const UI_SIDES: readonly UiSide[] = ['plain', 'feed', 'ui'];

export interface UiSideRun {
  /** Requests/s over the timed window, and the proxy's CPU per request there (µs). */
  rps: number;
  completed: number;
  completedTotal: number;
  failed: number;
  behind: number;
  cpuPerRequestUs?: number;
  /** CPU seconds of the watcher during the timed window: the browser's process tree (ui), the subscriber (feed). */
  watcherCpuSeconds?: number;
}

export interface UiPage {
  longestTaskMs: number;
  longTasks: number;
  heapStartMb: number;
  heapMaxMb: number;
  heapEndMb: number;
  rows: number;
  /** Exchanges the load completed, warm-up included: what the page should hold (up to the cap). */
  expectedRows: number;
  countsText: string;
  settled: boolean;
  problems: string[];
}

export interface UiFeedRun {
  probe: 'ui-feed';
  run: number;
  seconds: number;
  error?: string;
  sides: Partial<Record<UiSide, UiSideRun>>;
  page?: UiPage;
  notes: string[];
}

function jsonLine<T>(file: string, msg: string): T | undefined {
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      return JSON.parse(line) as T;
    } catch {
      // A line still being written.
    }
  }
  return undefined;
}

/** The listening line's `ui` field: the control server's URL with `#token=…`. */
function uiUrlFromLog(logFile: string): string {
  const listening = jsonLine<{ ui?: unknown }>(logFile, 'listening');
  if (typeof listening?.ui !== 'string') throw new Error(`no "ui" URL in the proxy's listening line (${logFile}): a proxy without the web UI?`);
  return listening.ui;
}

/** Debian's Chromium via scripts/ensure-chromium.sh (installs it when root and missing). */
async function chromiumPath(root: string): Promise<string> {
  const out = await runTool('sh', [path.join(root, 'scripts', 'ensure-chromium.sh')], 10 * 60_000);
  const found = out.stdout.trim().split('\n').pop() ?? '';
  if (out.code !== 0 || found === '') throw new Error(`no usable Chromium: ${out.stderr.trim().split('\n').pop() ?? 'ensure-chromium.sh printed no path'}`);
  return found;
}

async function startBrowser(ctx: Context, url: string, chromium: string): Promise<Service> {
  const service = startService('ui-browser', process.execPath, [path.join(ctx.root, 'dist', 'bench', 'ui-browser.js'), url, chromium], path.join(ctx.workDir, 'ui-browser.log'));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      const ready = jsonLine<{ mode?: string }>(service.logFile, UI_READY);
      if (ready !== undefined) {
        if (ready.mode !== 'live') throw new Error(`the page's status says "${String(ready.mode)}", not "live": it is not on the live feed`);
        return service;
      }
      const failed = jsonLine<{ error?: string }>(service.logFile, UI_FAILED);
      if (failed !== undefined) throw new Error(`the browser could not open the UI: ${String(failed.error)}`);
      if (!isRunning(service)) throw new Error(`the browser process exited before the page was ready: ${fs.readFileSync(service.logFile, 'utf8').trim().slice(-300) || 'no output'}`);
      if (Date.now() > deadline) throw new Error(`the page was not ready within ${READY_TIMEOUT_MS / 1000} s`);
      await sleep(100);
    }
  } catch (err) {
    await stopService(service, 5000);
    throw err;
  }
}

async function runLoad(ctx: Context, proxy: Running, seconds: number, watcher: Service | undefined): Promise<UiLoadResult> {
  const watched = [`proxy=${String(proxy.pid)}`, ...(watcher === undefined ? [] : [`tree:watcher=${watcher.pid}`])];
  const args = [path.join(ctx.root, 'dist', 'bench', 'ui-load.js'), String(proxy.port), String(ctx.upstreamPort), String(UI_RATE), String(UI_WARMUP_SECONDS), String(seconds), ...watched];
  const load = startService('ui-load', process.execPath, args, path.join(ctx.workDir, 'ui-load.log'));
  const timer = setTimeout(() => load.child.kill('SIGKILL'), (UI_WARMUP_SECONDS + seconds + 30) * 1000);
  await load.exited;
  clearTimeout(timer);
  const result = jsonLine<UiLoadResult>(load.logFile, UI_LOAD);
  if (result === undefined) throw new Error(`the load generator printed no result: ${fs.readFileSync(load.logFile, 'utf8').trim().slice(-300) || 'no output'}`);
  return result;
}

function pageFigures(counts: UiCounts, load: UiLoadResult): UiPage {
  const during = counts.longTasks.filter(([start]) => start >= load.startMs && start <= load.endMs);
  const mb = (b: number): number => b / 1e6;
  const inWindow = counts.heap.filter(([t]) => t >= load.startMs && t <= load.endMs);
  // The sample taken when the page was ready, before any traffic: the empty list's heap.
  const start = counts.heap[0];
  return {
    longestTaskMs: Math.max(0, ...during.map(([, d]) => d)),
    longTasks: during.length,
    heapStartMb: mb(start?.[1] ?? 0),
    heapMaxMb: mb(Math.max(0, ...inWindow.map(([, b]) => b))),
    heapEndMb: mb(counts.heap.at(-1)?.[1] ?? 0),
    rows: counts.rows,
    expectedRows: Math.min(UI_ROW_CAP, load.completedTotal),
    countsText: counts.countsText,
    settled: counts.settled,
    problems: counts.problems,
  };
}

async function runSide(ctx: Context, side: UiSide, seconds: number, chromium: string | undefined, result: UiFeedRun, log: (line: string) => void): Promise<void> {
  const name = `proxy-ui-${side}`;
  const tokenFile = tokenFileFor(ctx.workDir, name);
  fs.rmSync(tokenFile, { force: true });
  const proxy = await proxyService(ctx, name, controlStartArgs(PROXY_START, tokenFile));
  let browser: Service | undefined;
  let subscriber: Subscriber | undefined;
  try {
    if (side === 'ui') browser = await startBrowser(ctx, uiUrlFromLog(proxy.service!.logFile), chromium!);
    if (side === 'feed') subscriber = await startSubscriber(ctx.root, ctx.workDir, 'ui-feed-subscriber', controlUrlFromLog(proxy.service!.logFile), tokenFile);
    const load = await runLoad(ctx, proxy, seconds, browser ?? subscriber?.service);
    const proxyCpu = load.cpu.proxy;
    const run: UiSideRun = {
      rps: load.completed / load.seconds,
      completed: load.completed,
      completedTotal: load.completedTotal,
      failed: load.failed,
      behind: load.behind,
      ...(proxyCpu !== undefined && load.completed > 0 && { cpuPerRequestUs: (proxyCpu / load.completed) * 1e6 }),
      ...(load.cpu['tree:watcher'] !== undefined && { watcherCpuSeconds: load.cpu['tree:watcher'] }),
    };
    result.sides[side] = run;
    if (load.failed > 0) result.notes.push(`${side}: ${load.failed} request(s) failed`);
    if (load.behind > 0) result.notes.push(`${side}: ${load.behind} request(s) not sent, ${MAX_IN_FLIGHT} already unanswered (the proxy fell behind the pace)`);
    const who = { ui: 'page open', plain: 'no page', feed: 'a Node feed subscriber, no page' }[side];
    log(`  ui-feed (${who}): ${run.rps.toFixed(0)} req/s, proxy CPU ${run.cpuPerRequestUs?.toFixed(0) ?? '?'} µs/request${run.watcherCpuSeconds === undefined ? '' : `, ${side === 'ui' ? 'browser' : 'subscriber'} ${run.watcherCpuSeconds.toFixed(1)} CPU s`}`);
    if (subscriber !== undefined) {
      const counts = await subscriber.counts();
      subscriber = undefined;
      if (counts.finishedSmall < load.completedTotal) result.notes.push(`feed: the subscriber read ${counts.finishedSmall} finished events for ${load.completedTotal} exchanges (${counts.missed} missed)`);
    }
    if (browser !== undefined) {
      const service = browser;
      browser = undefined;
      await stopService(service, 30_000);
      const counts = jsonLine<UiCounts>(service.logFile, UI_COUNTS);
      if (counts === undefined) throw new Error(`the browser printed no counts: see ${service.logFile}`);
      const page = pageFigures(counts, load);
      result.page = page;
      log(
        `  ui-feed page: longest task ${page.longestTaskMs.toFixed(0)} ms (${page.longTasks} > 50 ms), heap ${page.heapStartMb.toFixed(1)} → max ${page.heapMaxMb.toFixed(1)} → end ${page.heapEndMb.toFixed(1)} MB, ` +
          `${page.rows} rows for ${page.expectedRows} exchanges ("${page.countsText}")`,
      );
      // A page that showed nothing measured nothing: its long tasks and heap would flatter it.
      if (page.rows === 0) throw new Error(`the page never showed a row (${load.completedTotal} exchanges completed; status "${page.countsText}")`);
      if (page.problems.length > 0) result.notes.push(`the page reported: ${page.problems.slice(0, 3).join('; ')}`);
      if (!page.settled) result.notes.push('the row count was still moving 15 s after the load');
    }
  } finally {
    if (browser !== undefined) await stopService(browser, 5000);
    if (subscriber !== undefined) await subscriber.stop();
    const note = await proxy.stop();
    if (note !== undefined) result.notes.push(`proxy ${side}: ${note}`);
    fs.rmSync(tokenFile, { force: true });
    const counts = scanProxyLog(proxy.service?.logFile);
    if (counts.warnings > 0) result.notes.push(`proxy ${side}: log has ${counts.warnings} warn/error line(s), first: ${counts.firstWarning ?? ''}`);
    // A proxy the load went around would score 0 µs a request.
    const served = result.sides[side]?.completedTotal;
    if (served !== undefined && counts.exchanges < served) {
      result.error ??= `proxy ${side} logged ${counts.exchanges} exchange lines for ${served} requests completed: the load did not go through it`;
    }
  }
}

export async function measureUiFeed(ctx: Context, cfg: BenchConfig, run: number, log: (line: string) => void): Promise<UiFeedRun> {
  const seconds = cfg.quick ? UI_QUICK_SECONDS : UI_SECONDS;
  const result: UiFeedRun = { probe: 'ui-feed', run, seconds, sides: {}, notes: [] };
  try {
    const chromium = await chromiumPath(ctx.root);
    // The order rotates from run to run, so no side always goes first.
    const shift = (run - 1) % UI_SIDES.length;
    const order = [...UI_SIDES.slice(shift), ...UI_SIDES.slice(0, shift)];
    for (const side of order) await runSide(ctx, side, seconds, chromium, result, log);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`  ui-feed: failed: ${result.error}`);
  }
  for (const note of result.notes) log(`  ui-feed: note: ${note}`);
  return result;
}

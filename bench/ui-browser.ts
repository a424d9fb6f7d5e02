/**
 * The `ui-feed` probe's browser (issue 23), in a process of its own as the feed subscriber is:
 * headless Chromium (Debian's, via scripts/ensure-chromium.sh; driven by playwright-core) opens
 * the web UI at the `ui` URL of the proxy's listening line (the token rides in the fragment) and
 * keeps it open under the load. It watches the page the way a user would feel it:
 *
 * - long main-thread tasks: a PerformanceObserver for 'longtask' injected before the page's own
 *   scripts (page.addInitScript), each task kept with its epoch start so the harness can keep
 *   those of the load's window;
 * - the tab's JS heap: CDP `Performance.getMetrics` JSHeapUsedSize once a second, and after a
 *   full GC (`HeapProfiler.collectGarbage`) when the page is ready and at the end;
 * - the rows the list holds: the grid's aria-rowcount (header row included) and the counts text.
 *
 * One JSON line per event on stdout (the harness sends it to .bench/NAME.log):
 *
 *   {"msg":"ui ready","rows":N,"mode":"live"}   the list is mounted; mode is the status bar's
 *   {"msg":"ui failed","error":…}   Chromium or the page could not be had (exits 1)
 *   {"msg":"ui counts",…}           on SIGTERM, once the row count has been still for 1 s (≤ 15 s)
 *
 *   node dist/bench/ui-browser.js <ui URL> <chromium path>
 */
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

import { UI_COUNTS, UI_FAILED, UI_READY, type UiCounts } from './ui-messages.js';

const say = (msg: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ msg, ...fields })}\n`);
};

// Runs in the page before its scripts: every long task (> 50 ms, the Long Tasks API's threshold).
const OBSERVE_LONG_TASKS = `(() => {
  const tasks = [];
  window.__benchLongTasks = tasks;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (tasks.length < 20000) tasks.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
})();`;

async function rowCount(page: Page): Promise<number> {
  const value = await page.locator('[role="grid"]').first().getAttribute('aria-rowcount', { timeout: 5000 });
  return Math.max(0, Number(value ?? '1') - 1);
}

async function main(): Promise<void> {
  const [url, executablePath] = process.argv.slice(2);
  if (url === undefined || executablePath === undefined) throw new Error('usage: ui-browser.js <ui URL> <chromium path>');
  const problems: string[] = [];
  const heap: Array<[number, number]> = [];
  let stopping = false;
  const browser: Browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 60_000,
    // SIGTERM is the harness saying the load is over: the page is read first, then closed.
    handleSIGTERM: false,
    handleSIGINT: false,
    handleSIGHUP: false,
    // As test/helpers/ui.ts: nothing the page or Chromium's background requests do leaves loopback.
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1'],
  });
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error' && problems.length < 20) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => {
    if (problems.length < 20) problems.push(`page error: ${e.message}`);
  });
  await page.addInitScript(OBSERVE_LONG_TASKS);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const sampleHeap = async (): Promise<void> => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    const used = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value;
    if (used !== undefined) heap.push([Date.now(), used]);
  };
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  // The feed is up when the status bar says so (docs/ui.md); the grid is there from the start.
  await page.locator('[role="grid"]').first().waitFor({ timeout: 15_000 });
  const status = page.locator('header [role="status"]').first();
  const deadline = Date.now() + 15_000;
  let mode = '';
  while (Date.now() < deadline) {
    mode = ((await status.textContent({ timeout: 5000 })) ?? '').trim();
    if (mode === 'live' || mode.startsWith('polling')) break;
    await new Promise((wake) => setTimeout(wake, 100));
  }
  // The start and end samples follow a full GC, so they are what the page holds, not garbage
  // awaiting collection; the samples during the load are taken as they come.
  await cdp.send('HeapProfiler.collectGarbage');
  await sampleHeap();
  say(UI_READY, { rows: await rowCount(page), mode });
  const sampler = setInterval(() => {
    if (!stopping) sampleHeap().catch(() => undefined);
  }, 1000);

  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  stopping = true;
  clearInterval(sampler);
  // What is still on the wire reaches the page; the count is final once it stops moving for 1 s.
  let rows = await rowCount(page);
  let still = 0;
  let settled = false;
  for (let i = 0; i < 60; i++) {
    await new Promise((wake) => setTimeout(wake, 250));
    const now = await rowCount(page);
    still = now === rows ? still + 1 : 0;
    rows = now;
    if (still >= 4) {
      settled = true;
      break;
    }
  }
  await cdp.send('HeapProfiler.collectGarbage');
  await sampleHeap();
  const countsText = ((await page.locator('.counts').first().textContent({ timeout: 5000 }).catch(() => '')) ?? '').trim();
  const longTasks = await page.evaluate<Array<[number, number]>>('window.__benchLongTasks ?? []');
  const counts: UiCounts = { rows, countsText, settled, longTasks, heap, problems };
  say(UI_COUNTS, counts as unknown as Record<string, unknown>);
  await browser.close();
}

// Run when started as a program; the harness imports this file for its types and names only.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main().then(
  () => process.exit(0),
  (err: unknown) => {
    say(UI_FAILED, { error: err instanceof Error ? err.message.split('\n')[0] : String(err) });
    process.exit(1);
  },
);

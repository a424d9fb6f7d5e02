/**
 * The live list at scale (issue 23: "smooth with 100,000 rows (virtualised), memory bounded"), in
 * headless Chromium. The page is the real one from a real control server, but its data is
 * played by the test: the first GET /api/exchanges answers 100,000 summaries (Playwright's
 * page.route) and the live feed is a WebSocket the test plays (page.routeWebSocket), because a
 * real proxy would take minutes on a test machine to make 100,000 exchanges.
 *
 * Asserted: all 100,000 rows are held but only a screenful is in the DOM, the keyboard reaches
 * the oldest row, and past the cap the oldest rows are dropped and counted. The longest frame
 * while scrolling and the page's JS heap are reported as diagnostics, not asserted (no
 * wall-clock bound here; the benchmark owns those).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openUi } from './helpers/ui.js';

const ROWS = 100_000;

function summary(i: number): object {
  return {
    id: `scale-${i}`,
    kind: 'http',
    method: i % 3 === 0 ? 'POST' : 'GET',
    url: `http://sp${i % 7}.lab/_vti_bin/shtml.dll/_vti_rpc?n=${i}`,
    status: 200,
    protocol: 'fpse',
    operation: 'server version',
    versions: { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' },
    verdicts: [i % 100 === 0 ? { code: 'echo-mismatch', level: 'violation', message: 'MS-FPSE 1.7.1' } : { code: 'accepted', level: 'ok', message: 'MS-FPSE 1.7.1' }],
    rules: [],
    duration: 3.2,
    bytes: { request: 41, response: 310 },
  };
}

describe('web UI: the list at scale', () => {
  it('holds 100,000 rows with a screenful in the DOM, reaches the oldest by keyboard, and drops the oldest past its cap', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    const { page } = run;
    // Newest first, as the API answers.
    const backlog = JSON.stringify(Array.from({ length: ROWS }, (_, k) => summary(ROWS - 1 - k)));
    await page.route(/\/api\/exchanges\?limit=/, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: backlog }));
    let feed: { send(message: string): void } | undefined;
    await page.routeWebSocket(/\/api\/events/, (ws) => {
      feed = ws;
    });
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 60_000 });
    await page.locator('.counts', { hasText: `${ROWS} rows` }).waitFor({ timeout: 60_000 });
    const inDom = await page.locator('.viewport .row').count();
    assert.ok(inDom > 10 && inDom < 150, `${inDom} rows in the DOM for ${ROWS} held`);
    assert.equal(await page.locator('.grid').getAttribute('aria-rowcount'), String(ROWS + 1));

    // Scroll through the list a frame at a time; report the longest frame.
    const longest = await page.evaluate(`(async () => {
      const el = document.querySelector('.viewport');
      const frames = [];
      const idle = [];
      let t0 = performance.now();
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        idle.push(now - t0);
        t0 = now;
      }
      idle.sort((a, b) => a - b);
      await new Promise((r) => requestAnimationFrame(r));
      let last = performance.now();
      for (let i = 0; i < 60; i++) {
        el.scrollTop += 40000;
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        frames.push(now - last);
        last = now;
      }
      frames.sort((a, b) => a - b);
      return frames[30].toFixed(1) + ' ms median, ' + frames[59].toFixed(1) + ' ms longest (idle frames: ' + idle[15].toFixed(1) + ' ms median)';
    })()`);
    t.diagnostic(`frames while scrolling 100,000 rows, 60 jumps of 40,000 px: ${String(longest)}`);
    assert.ok((await page.locator('.viewport .row').count()) < 150, 'still a screenful after scrolling');

    await page.locator('.viewport').focus();
    await page.keyboard.press('End');
    await page.locator('.row[aria-selected=true]', { hasText: '?n=0' }).waitFor({ timeout: 10_000 });
    await page.keyboard.press('Escape');

    // Past the cap (100,000 rows): the oldest go, counted; the list stays at the cap.
    assert.ok(feed !== undefined, 'the page opened the live feed');
    for (let i = 0; i < 5_000; i++) feed.send(JSON.stringify({ seq: i + 1, type: 'finished', exchange: summary(ROWS + i) }));
    await page.locator('.counts', { hasText: /100000 rows \(5000 oldest dropped\)/ }).waitFor({ timeout: 60_000 });
    await page.keyboard.press('Home');
    await page.locator('.row[aria-selected=true]', { hasText: `?n=${ROWS + 4999}` }).waitFor({ timeout: 10_000 });
    const heap = await page.evaluate('performance.memory ? performance.memory.usedJSHeapSize : 0');
    t.diagnostic(`page JS heap with ${ROWS} rows: ${(Number(heap) / 1024 / 1024).toFixed(1)} MB`);
    await run.screenshot('list-100k');
    assert.deepEqual(run.problems.filter((p) => /Content Security Policy|Refused to|page error/i.test(p)), []);
  });
});

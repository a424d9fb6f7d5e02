/**
 * The web UI (issue 23, docs/ui.md) in headless Chromium against a real proxy and its control
 * server: the page, its CSP and the token; the live list and its filter. Screenshots of each view
 * go to test-artifacts/ui/ (gitignored).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { proxiedRequest, request } from './helpers/client.js';
import { closeLater } from './helpers/protocol.js';
import { startServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';
import { openUi, settled, type UiRun } from './helpers/ui.js';

async function waitUntilAsync(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

/** No CSP violation and no script error: the page ran as served. */
function assertClean(run: UiRun): void {
  assert.deepEqual(
    run.problems.filter((p) => /Content Security Policy|Refused to|page error/i.test(p)),
    [],
  );
}

describe('web UI: the page and the token', () => {
  it('serves the page and bundle without a token under a strict CSP; the API still needs the token', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    const port = run.c.controlPort;
    const page = await request(port, '/', { headers: { Host: `127.0.0.1:${port}` } });
    assert.equal(page.statusCode, 200, page.body.toString());
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/);
    // No CDN: every script and stylesheet the page names is this server's.
    for (const ref of page.body.toString().matchAll(/(?:src|href)="([^"]+)"/g)) assert.match(ref[1]!, /^(\/|data:)/, `page loads ${ref[1]!}`);
    for (const asset of ['/ui/app.js', '/ui/style.css']) {
      const res = await request(port, asset);
      assert.equal(res.statusCode, 200, `${asset}: ${res.body.toString()}`);
      assert.ok(res.body.length > 100, `${asset} has content`);
      assert.equal(res.headers['content-security-policy'], csp);
      assert.doesNotMatch(res.body.toString(), /https?:\/\/(?!127\.0\.0\.1|localhost|www\.w3\.org)[a-z]/i, `${asset} names no outside URL`);
    }
    const api = await request(port, '/api/status');
    assert.equal(api.statusCode, 401, 'the API without a token');
    assert.equal(run.uiUrl, `http://127.0.0.1:${port}/#token=${run.c.token}`, 'the listening line carries the UI URL');
  });

  it('without a token the page says how to get one, and its API calls are refused', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    const base = run.uiUrl.replace(/#.*$/, '');
    await run.page.goto(base);
    await run.page.getByText('This page needs the control token').waitFor({ timeout: 10_000 });
    assert.match((await run.page.textContent('body')) ?? '', /--control-token-file/);
    const status = await run.page.evaluate("fetch('/api/status').then((r) => r.status)");
    assert.equal(status, 401);
    await run.screenshot('no-token');
    // A token of another run: the page forgets it and says why.
    await run.page.goto(`${base}#token=not-this-runs-token`);
    await run.page.getByText('belongs to another run').waitFor({ timeout: 10_000 });
    assert.equal(await run.page.evaluate('sessionStorage.length'), 0);
    assertClean(run);
  });

  it('with the token from the listening line it loads, keeps the token out of the URL, and survives a reload', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    await run.page.goto(run.uiUrl);
    await run.page.locator('[role=grid]').waitFor({ timeout: 10_000 });
    assert.doesNotMatch(run.page.url(), /token/, 'the fragment is gone from the address');
    assert.equal(await run.page.evaluate("sessionStorage.getItem('version-proxy.token')"), run.c.token);
    await run.page.reload();
    await run.page.locator('[role=grid]').waitFor({ timeout: 10_000 });
    await run.page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    assertClean(run);
  });
});

describe('web UI: the live list', () => {
  it('shows an exchange made during the test within 1 s; the filter narrows the list; a bad filter says why', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    const upstream = closeLater(
      t,
      await startServer((req, res) => {
        res.writeHead(req.method === 'POST' ? 201 : 200, { 'Content-Type': 'text/plain' });
        res.end('ok');
      }),
    );
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });

    // The bound: an exchange appears within 1 s of its answer reaching the client.
    await proxiedRequest(run.c.proxy.port, `${upstream.url}/first-during-test`);
    const answered = Date.now();
    await page.locator('.row', { hasText: '/first-during-test' }).waitFor({ timeout: 1000 });
    const shownAfter = Date.now() - answered;
    assert.ok(shownAfter <= 1000, `shown after ${shownAfter} ms`);

    for (let i = 0; i < 3; i++) await proxiedRequest(run.c.proxy.port, `${upstream.url}/get-${i}`);
    await proxiedRequest(run.c.proxy.port, `${upstream.url}/posted`, { method: 'POST', body: 'x' });
    await page.locator('.row', { hasText: '/posted' }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('.viewport .row').count(), 5);
    await run.screenshot('list');

    await page.getByLabel('Filter').fill('method:POST');
    await page.getByLabel('Filter').press('Enter');
    // Polled from here: the page's CSP (no eval) refuses page.waitForFunction's string predicate.
    await waitUntilAsync(async () => (await page.locator('.viewport .row').count()) === 1, 5000, 'one row left');
    assert.match((await page.locator('.viewport .row').textContent()) ?? '', /POST.*\/posted.*201/);
    // Export: the HAR and report commands carry the filter (the API serves neither).
    await page.getByText('Export', { exact: true }).click();
    assert.equal(await page.getByLabel('HAR export command').textContent(), "./proxy har recordings/ --filter 'method:POST' -o exchanges.har");
    assert.equal(await page.getByLabel('Report export command').textContent(), "./proxy report recordings/ --filter 'method:POST' --html -o report.html");
    await page.getByText('Export', { exact: true }).click();
    // New traffic is filtered too.
    await proxiedRequest(run.c.proxy.port, `${upstream.url}/get-after-filter`);
    await proxiedRequest(run.c.proxy.port, `${upstream.url}/posted-after-filter`, { method: 'POST', body: 'y' });
    await page.locator('.row', { hasText: '/posted-after-filter' }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('.row', { hasText: '/get-after-filter' }).count(), 0);

    await page.getByLabel('Filter').fill('colour:blue');
    await page.getByLabel('Filter').press('Enter');
    const error = page.locator('#filter-error');
    await error.filter({ hasText: 'colour' }).waitFor({ timeout: 5000 });
    assert.equal(await page.getByLabel('Filter').getAttribute('aria-invalid'), 'true');
    await run.screenshot('bad-filter');
    assertClean(run);
  });

  it('pauses and resumes; the keyboard moves the selection, closes the detail and switches views', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    const upstream = closeLater(t, await startServer((_req, res) => res.end('ok')));
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    for (let i = 0; i < 3; i++) await proxiedRequest(run.c.proxy.port, `${upstream.url}/k-${i}`);
    await page.locator('.row', { hasText: '/k-2' }).waitFor({ timeout: 5000 });

    await page.getByRole('button', { name: 'Pause' }).click();
    await proxiedRequest(run.c.proxy.port, `${upstream.url}/while-paused`);
    await page.locator('.counts', { hasText: 'paused, 1 new' }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('.row', { hasText: '/while-paused' }).count(), 0, 'not shown while paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator('.row', { hasText: '/while-paused' }).waitFor({ timeout: 5000 });

    await page.locator('.viewport').focus();
    await page.keyboard.press('Home');
    await page.locator('.row[aria-selected=true]', { hasText: '/while-paused' }).waitFor({ timeout: 5000 });
    await page.keyboard.press('ArrowDown');
    await page.locator('.row[aria-selected=true]', { hasText: '/k-2' }).waitFor({ timeout: 5000 });
    await page.keyboard.press('End');
    await page.locator('.row[aria-selected=true]', { hasText: '/k-0' }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('.viewport').getAttribute('aria-activedescendant'), await page.locator('.row[aria-selected=true]').getAttribute('id'));
    await page.getByRole('complementary', { name: 'Exchange detail' }).waitFor({ timeout: 5000 });
    await page.keyboard.press('Escape');
    await page.getByRole('complementary', { name: 'Exchange detail' }).waitFor({ state: 'detached', timeout: 5000 });
    // The views are tabs: one tab stop, arrows move between them.
    await page.getByRole('tab', { name: 'Exchanges' }).focus();
    await page.keyboard.press('ArrowRight');
    await page.getByRole('tabpanel', { name: 'Conversations' }).waitFor({ timeout: 5000 });
    await page.keyboard.press('ArrowRight');
    await page.getByRole('tabpanel', { name: 'Rules' }).waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate('document.activeElement.id'), 'tab-rules');
    await page.keyboard.press('Home');
    await page.getByRole('tabpanel', { name: 'Exchanges' }).waitFor({ timeout: 5000 });
    assertClean(run);
  });
});

describe('web UI: values from traffic', () => {
  it('shows markup in a path and a header as text, never as elements', async (t) => {
    const run = await openUi(t, { record: { path: join(tempDir(t), 'j.ndjson'), captureBytes: 64 * 1024, rotateBytes: 1 << 30 } });
    if (run === undefined) return;
    const upstream = closeLater(t, await startServer((_req, res) => res.end('<b>body</b>')));
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    const evil = '/x<img/src=x/id=evil-path>';
    await proxiedRequest(run.c.proxy.port, `${upstream.url}${evil}`, { headers: { 'X-Evil': '<img src=x id=evil-header>' } });
    const row = page.locator('.row', { hasText: evil });
    await row.waitFor({ timeout: 5000 });
    await settled(run);
    await row.click();
    await page.getByRole('table', { name: 'Client sent' }).getByText('<img src=x id=evil-header>').waitFor({ timeout: 5000 });
    await page.getByLabel('Response body (as the client got it)').getByText('<b>body</b>').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('#evil-path, #evil-header, .detail b').count(), 0, 'no element made from traffic');
    assertClean(run);
  });
});

describe('web UI: the live feed', () => {
  it('uses the feed under the CSP: a slow exchange shows as started, then finished', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    let release: (() => void) | undefined;
    const upstream = closeLater(
      t,
      await startServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        release = () => res.end('late');
      }),
    );
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    const answer = proxiedRequest(run.c.proxy.port, `${upstream.url}/slow`);
    const row = page.locator('.row', { hasText: '/slow' });
    await row.and(page.locator('.pending')).waitFor({ timeout: 5000 });
    assert.equal(await row.count(), 1);
    await waitUntilAsync(() => Promise.resolve(release !== undefined), 5000, 'the upstream to hold the request');
    release!();
    await answer;
    await page.locator('.row:not(.pending)', { hasText: '/slow' }).waitFor({ timeout: 5000 });
    assert.match((await row.textContent()) ?? '', /\/slow.*200/);
    assertClean(run);
  });
});

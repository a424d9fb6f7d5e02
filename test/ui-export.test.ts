/**
 * The web UI's Export (issue 23 "Export", docs/ui.md) in headless Chromium against a real proxy:
 * with a filter applied, the HAR download goes through the control API with the token, under the
 * page's CSP, and the file saved holds the exchange made during the test (and not the one the
 * filter leaves out); the report download is the HTML report with its sequence diagram section.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { proxiedRequest } from './helpers/client.js';
import { assertValidHar } from './helpers/har-validator.js';
import { closeLater } from './helpers/protocol.js';
import { startServer } from './helpers/servers.js';
import { openUi } from './helpers/ui.js';

describe('web UI: export', () => {
  it('downloads the HAR and the report of the current filter through the API; the HAR holds the exchange made during the test', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    const upstream = closeLater(
      t,
      await startServer((req, res) => {
        res.writeHead(req.method === 'POST' ? 201 : 200, { 'Content-Type': 'text/plain' });
        res.end('exported body');
      }),
    );
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    await proxiedRequest(run.c.proxy.port, `${upstream.url}/left-out`);
    await proxiedRequest(run.c.proxy.port, `${upstream.url}/exported-during-test`, { method: 'POST', body: 'sent' });
    await page.locator('.row', { hasText: '/exported-during-test' }).waitFor({ timeout: 5000 });

    await page.getByLabel('Filter').fill('method:POST');
    await page.getByLabel('Filter').press('Enter');
    await page.getByText('Export', { exact: true }).click();
    const [har] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.getByRole('button', { name: 'Download HAR' }).click()]);
    assert.match(har.suggestedFilename(), /^version-proxy-exchanges-\d{8}T\d{6}Z\.har$/);
    const saved = JSON.parse(await readFile(await har.path(), 'utf8')) as { log: { entries: Array<{ request: { method: string; url: string }; response: { status: number; content: { text?: string } } }> } };
    assertValidHar(saved);
    assert.deepEqual(
      saved.log.entries.map((e) => [e.request.method, e.request.url, e.response.status, e.response.content.text]),
      [['POST', `${upstream.url}/exported-during-test`, 201, 'exported body']],
      'the filtered exchange, and only it',
    );
    await page.getByRole('status').filter({ hasText: /^Saved version-proxy-exchanges-.*\.har: 1 of the 2 exchanges the proxy holds/ }).waitFor({ timeout: 5000 });

    const [report] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.getByRole('button', { name: 'Download report (HTML)' }).click()]);
    assert.match(report.suggestedFilename(), /^version-proxy-report-\d{8}T\d{6}Z\.html$/);
    const html = await readFile(await report.path(), 'utf8');
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /Only exchanges matching <code>method:POST<\/code>; 1 left out\./);
    // The commands for the whole recording stay as the second option.
    assert.equal(await page.getByLabel('HAR export command').textContent(), "./proxy har recordings/ --filter 'method:POST' -o exchanges.har");
    await run.screenshot('export');
    assert.deepEqual(run.problems.filter((p) => /Content Security Policy|Refused to|page error/i.test(p)), [], 'no CSP violation or script error');
  });
});

/**
 * The web UI's detail view (issue 23) in headless Chromium: an FPSE `server version` call whose
 * answer a shipped rule rewrites (rules/fpse-downgrade-to-fp2002.yaml) shows the version before
 * and after, the upstream's head against the client's, the verdicts with their spec section,
 * the decoded packet, the bodies and the curl command. Screenshot: test-artifacts/ui/detail.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/process.js';
import { runMapiClient } from '../src/simulators/mapi-client.js';
import { fpseCall, fpseServer, logger, mapiServer, SHTML } from './helpers/protocol.js';
import { tempDir } from './helpers/temp.js';
import { openUi, settled } from './helpers/ui.js';

describe('web UI: the detail of one exchange', () => {
  it('shows a rewritten version before and after, both heads of the answer, verdicts with their section, bodies and curl', async (t) => {
    const run = await openUi(t, {
      rules: [join(ROOT, 'rules', 'fpse-downgrade-to-fp2002.yaml')],
      record: { path: join(tempDir(t), 'j.ndjson'), captureBytes: 64 * 1024, rotateBytes: 1 << 30 },
    });
    if (run === undefined) return;
    const fpse = await fpseServer(t);
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    const answer = await fpseCall(run.c.proxy, fpse, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.match(answer.body.toString(), /5\.0\.2\.6790|major ver=5/, 'the client got the rewritten answer');

    await settled(run);
    await page.locator('.row', { hasText: '_vti_rpc' }).click();
    const detail = page.getByRole('complementary', { name: 'Exchange detail' });
    const rules = detail.getByRole('table', { name: 'Rules met' });
    await rules.waitFor({ timeout: 5000 });
    assert.match((await rules.textContent()) ?? '', /fpse-looks-like-fp2002/);
    // Before and after of the rewritten version, as <del> and <ins>.
    const before = (await rules.locator('del').allTextContents()).join(' ');
    const after = (await rules.locator('ins').allTextContents()).join(' ');
    assert.match(before, /14\.0\.0\.6029|\b14\b/, `before: ${before}`);
    assert.match(after, /5\.0\.2\.6790|\b5\b/, `after: ${after}`);
    // The response both ways: what the upstream sent against what the client got.
    await detail.getByRole('heading', { name: 'Upstream sent', exact: true }).waitFor();
    await detail.getByRole('heading', { name: 'Client got', exact: true }).waitFor();
    const changed = detail.getByRole('table', { name: 'Client got' }).locator('tr.changed');
    assert.ok((await changed.count()) >= 1, 'a changed header (Content-Length) is marked in the client\'s head');
    // The request heads as the wire had them: the client's header names in their case and order.
    const sentNames = (await detail.getByRole('table', { name: 'Client sent' }).locator('td:nth-child(2)').allTextContents()).map((n) => n.replace(/:$/, ''));
    const recorded = run.c.proxy.exchanges.at(-1)!.request.rawHeaders.filter((_, i) => i % 2 === 0);
    assert.deepEqual(sentNames, recorded);
    // Verdicts with the section they cite; the decoded packet; the bodies; curl.
    assert.match((await detail.locator('.verdicts').textContent()) ?? '', /MS-FPSE 1\.7\.1/);
    assert.match((await detail.getByRole('region', { name: 'Decoded' }).textContent()) ?? '', /server version/);
    assert.match((await detail.getByLabel('Request body (as the client sent it)').textContent()) ?? '', /method=server\+version/);
    await detail.getByRole('button', { name: 'Copy as curl' }).click();
    const curl = (await detail.getByLabel('curl command').textContent()) ?? '';
    assert.match(curl, /^curl --http1\.1 -X 'POST' 'http:\/\/127\.0\.0\.1:\d+\/_vti_bin\/shtml\.dll\/_vti_rpc' -H 'Host: 127\.0\.0\.1:\d+'/m);
    assert.match(curl, /--data-binary 'method=server\+version%3a12%2e0%2e0%2e6415'/);
    await run.screenshot('detail');
    assert.deepEqual(run.problems.filter((p) => /Content Security Policy|Refused to|page error/i.test(p)), []);
  });
});

describe('web UI: the MAPI/HTTP response stream', () => {
  it('shows PROCESSING, each PENDING, DONE and the headers after it, in order', async (t) => {
    const run = await openUi(t, { record: { path: join(tempDir(t), 'j.ndjson'), captureBytes: 64 * 1024, rotateBytes: 1 << 30 } });
    if (run === undefined) return;
    const mail = await mapiServer(t);
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    await runMapiClient({ server: mail.url, via: run.c.proxy.url, client: 'Outlook/16.0.15928.20006', notificationWait: true, logger });
    await settled(run);
    await page.locator('.row', { hasText: 'NotificationWait' }).first().click();
    const stream = page.getByRole('list', { name: 'Response stream, in order' });
    await stream.waitFor({ timeout: 5000 });
    const steps = await stream.locator('li').allTextContents();
    const record = run.c.proxy.exchanges.find((x) => x.protocol?.operation === 'NotificationWait');
    const facts = (record?.protocol?.facts as { stream: { processing: number; pending: number } }).stream;
    assert.ok(facts.pending >= 1, 'the simulator kept the wait open with PENDING');
    assert.deepEqual(steps.slice(0, facts.processing + facts.pending + 1), [...Array<string>(facts.processing).fill('PROCESSING'), ...Array<string>(facts.pending).fill('PENDING'), 'DONE']);
    assert.ok(steps.some((s) => /^X-ResponseCode: 0$/.test(s)), `the headers after DONE: ${steps.join(' | ')}`);
    await run.screenshot('detail-mapi');
  });
});

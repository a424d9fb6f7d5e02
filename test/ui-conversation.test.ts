/**
 * The web UI's conversation view (issue 23) in headless Chromium: the shipped FPSE simulator
 * client (12.0.0.6415) talks through the proxy to the FPSE simulator server (14.0.0.6029) while
 * rules/fpse-downgrade-to-fp2002.yaml makes the server look like 5.0.2.6790; the conversation's
 * sequence diagram, drawn by the report's own modules, names the client's version, the server's
 * true build and the one the proxy put in its place. Screenshots: test-artifacts/ui/conversation.png
 * and list-fpse.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runFpseClient } from '../src/simulators/fpse-client.js';
import { runMapiClient } from '../src/simulators/mapi-client.js';
import { ROOT } from './helpers/process.js';
import { fpseServer, logger, mapiServer } from './helpers/protocol.js';
import { openUi, settled } from './helpers/ui.js';

describe('web UI: a conversation as a sequence diagram', () => {
  it('draws a simulated FPSE downgrade naming the client version, the server build and the rewritten one', async (t) => {
    const run = await openUi(t, { rules: [join(ROOT, 'rules', 'fpse-downgrade-to-fp2002.yaml')] });
    if (run === undefined) return;
    const fpse = await fpseServer(t);
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    await runFpseClient({ server: fpse.url, via: run.c.proxy.url, version: '12.0.0.6415', logger });
    await page.locator('.row', { hasText: 'server version' }).first().waitFor({ timeout: 5000 });
    await run.screenshot('list-fpse');

    // From the exchange's detail to its conversation.
    await settled(run);
    await page.locator('.row', { hasText: 'server version' }).first().click();
    await page.getByRole('button', { name: 'Show its conversation' }).click();
    const svg = page.getByRole('region', { name: 'Sequence diagram' }).locator('svg');
    await svg.waitFor({ timeout: 10_000 });
    const text = (await svg.textContent()) ?? '';
    assert.match(text, /12\.0\.0\.6415/, 'the client version');
    assert.match(text, /14\.0\.0\.6029/, "the server's true build");
    assert.match(text, /5\.0\.2\.6790/, 'the version the proxy put in its place');
    assert.equal(await svg.getAttribute('role'), 'img');
    await svg.scrollIntoViewIfNeeded();
    await run.screenshot('conversation');
    assert.deepEqual(run.problems.filter((p) => /Content Security Policy|Refused to|page error/i.test(p)), []);
  });
});

describe('web UI: mixed traffic in the list', () => {
  it('marks a violation (echo-mismatch) apart from accepted calls, MAPI/HTTP rows with their builds', async (t) => {
    const run = await openUi(t);
    if (run === undefined) return;
    const good = await fpseServer(t);
    const echoesWrong = await fpseServer(t, { echo: { fixed: '14.0.0.6029' } });
    const mail = await mapiServer(t);
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });
    await runMapiClient({ server: mail.url, via: run.c.proxy.url, client: 'Outlook/16.0.15928.20006', logger });
    await runFpseClient({ server: good.url, via: run.c.proxy.url, version: '12.0.0.6415', logger });
    await runFpseClient({ server: echoesWrong.url, via: run.c.proxy.url, version: '12.0.0.6415', logger });
    const violation = page.locator('.row.level-violation', { hasText: 'server version' });
    await violation.waitFor({ timeout: 5000 });
    assert.match((await violation.locator('.verdict').textContent()) ?? '', /^⚠ echo-mismatch$/);
    assert.equal(await page.locator('.row.level-violation').count(), await page.locator('.row', { hasText: 'echo-mismatch' }).count(), 'only echo-mismatch rows are marked');
    await page.locator('.row.level-ok', { hasText: 'mapihttp · Connect' }).waitFor({ timeout: 5000 });
    assert.match((await page.locator('.row', { hasText: 'mapihttp · Connect' }).textContent()) ?? '', /Outlook\/16\.0\.15928\.20006.*Exchange\/15\.02\.1544\.014/);
    await settled(run);
    await violation.click();
    await run.screenshot('list-mixed');
  });
});

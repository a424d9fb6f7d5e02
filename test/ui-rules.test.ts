/**
 * The web UI's rules panel (issue 23) in headless Chromium: disabling a file rule in the panel
 * changes the very next exchange; a runtime rule drafted from an exchange (match pre-filled,
 * action chosen from the action table) refuses the next call, a bad one shows the validator's
 * issue, and deleting it lets calls through again. Screenshot: test-artifacts/ui/rules.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/process.js';
import { fpseCall, fpseServer, SHTML } from './helpers/protocol.js';
import { openUi, settled } from './helpers/ui.js';

const SERVER_VERSION = 'method=server+version%3a12%2e0%2e0%2e6415';

describe('web UI: the rules panel', () => {
  it('disabling a rule in the panel changes the next exchange; a rule from an exchange refuses the next call until deleted', async (t) => {
    const run = await openUi(t, { rules: [join(ROOT, 'rules', 'fpse-downgrade-to-fp2002.yaml')] });
    if (run === undefined) return;
    const fpse = await fpseServer(t);
    const { page } = run;
    await page.goto(run.uiUrl);
    await page.getByRole('status').filter({ hasText: /^live$/ }).waitFor({ timeout: 10_000 });

    const first = await fpseCall(run.c.proxy, fpse, SHTML, SERVER_VERSION);
    assert.match(first.body.toString(), /server version:5\.0\.2\.6790/, 'the file rule downgrades the answer');

    await page.getByRole('tab', { name: 'Rules' }).click();
    const table = page.getByRole('table', { name: 'Rules in force' });
    const row = table.locator('tr[data-rule="fpse-looks-like-fp2002"]');
    await row.locator('td.hits', { hasText: '1' }).waitFor({ timeout: 5000 });
    await page.getByLabel('fpse-looks-like-fp2002 enabled').uncheck();
    // Shown at once, then the PATCH answered (aria-busy off) before the next call.
    await table.locator('tr.disabled[data-rule="fpse-looks-like-fp2002"]:not([aria-busy=true])').waitFor({ timeout: 5000 });
    const second = await fpseCall(run.c.proxy, fpse, SHTML, SERVER_VERSION);
    assert.match(second.body.toString(), /server version:12\.0\.0\.6415/, 'with the rule disabled the server answers for itself');
    assert.match(second.body.toString(), /major ver=14/);
    await run.screenshot('rules');

    // A runtime rule drafted from the exchange: match pre-filled, the action from the table.
    await page.getByRole('tab', { name: 'Exchanges' }).click();
    await settled(run);
    await page.locator('.row', { hasText: '_vti_rpc' }).first().click();
    await page.getByRole('button', { name: 'New rule from this exchange' }).click();
    const match = JSON.parse(await page.getByLabel('Match (JSON)').inputValue()) as Record<string, unknown>;
    assert.deepEqual(match, { protocol: 'fpse', fpseMethod: 'server version', host: '127.0.0.1' });
    await page.getByLabel('Id (optional)').fill('ui-reject');
    await page.getByLabel('Action').selectOption('reject');
    await page.getByLabel('Argument (JSON or a word)').fill('not-a-status');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByRole('form', { name: 'New runtime rule' }).getByRole('alert').filter({ hasText: 'reject' }).waitFor({ timeout: 5000 });
    await page.getByLabel('Argument (JSON or a word)').fill('client-too-old');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await table.locator('tr[data-rule="ui-reject"]').waitFor({ timeout: 5000 });
    const refused = await fpseCall(run.c.proxy, fpse, SHTML, SERVER_VERSION);
    assert.match(refused.body.toString(), /status=262156/, 'the new rule refuses the next call');
    await page.getByRole('button', { name: 'Delete ui-reject' }).click();
    await table.locator('tr[data-rule="ui-reject"]').waitFor({ state: 'detached', timeout: 5000 });
    const again = await fpseCall(run.c.proxy, fpse, SHTML, SERVER_VERSION);
    assert.doesNotMatch(again.body.toString(), /status=262156/, 'deleted: calls pass again');
    assert.deepEqual(run.problems.filter((p) => /Content Security Policy|Refused to|page error/i.test(p)), []);
  });
});

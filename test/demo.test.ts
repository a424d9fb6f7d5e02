/**
 * `./proxy demo` (issue 3, item 6; issue 24): both simulators behind the proxy, both clients
 * through it; the output shows, per scenario, both protocols' versions and verdicts within 100
 * columns, and the command exits 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './helpers/process.js';

/** The lines of the block under a heading, up to the next blank line. */
function block(out: string, heading: string): string[] {
  const lines = out.split('\n');
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, `a block "${heading}" in:\n${out}`);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

function hasLine(lines: string[], pattern: RegExp, what: string): void {
  assert.ok(lines.some((l) => pattern.test(l)), `${what}: ${String(pattern)} in:\n${lines.join('\n')}`);
}

describe('./proxy demo', () => {
  it('prints what each protocol negotiated, with the verdicts, per scenario, in 100 columns, and exits 0', async () => {
    const result = await runCli(['demo'], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, `exit code; stderr: ${result.stderr}`);
    const out = result.stdout;
    const widest = Math.max(...out.split('\n').map((l) => [...l].length));
    assert.ok(widest <= 100, `widest line ${widest} characters`);

    // FPSE: accepted on Min(client, server), a too-old client refused, a normalised echo caught.
    const office = block(out, 'Office 2007 → SharePoint 2010 (fpse)');
    hasLine(office, /^ {2}server version\s+12\.0\.0\.6415\s+14\.0\.0\.6029\s+12\.0\.0\.6415\s+accepted$/, 'negotiated');
    hasLine(office, /^ {2}open service\s+12\.0\.0\.6415\s+14\.0\.0\.6029\s+echo 12\.0\.0\.6415\s+accepted$/, 'a later call names the echo');
    hasLine(block(out, 'FrontPage 98 → SharePoint 2010 (fpse)'), /^ {2}server version\s+3\.0\.2\.1000\s+14\.0\.0\.6029\s+–\s+rejected-client-too-old$/, 'refused');
    hasLine(block(out, 'Office 2007 → WSS 2.0 (fixed echo) (fpse)'), /^ {2}server version\s+12\.0\.0\.6415\s+6\.0\.2\.5530\s+6\.0\.2\.5530 \(echo 6\.0\.0\.0\)\s+echo-mismatch$/, 'echo-mismatch');
    // MAPI/HTTP: both builds on every request type of the session, including the long poll.
    const outlook = block(out, 'Outlook 2016 → Exchange 2019 (mapihttp)');
    for (const type of ['Connect', 'Execute', 'NotificationWait', 'Disconnect', 'Bind', 'Unbind']) {
      hasLine(outlook, new RegExp(`^ {2}${type}\\s+Outlook/16\\.0\\.15928\\.20006\\s+Exchange/15\\.02\\.1544\\.014\\s+ok$`), type);
    }
    // Shipped scenarios behind a second proxy (issue 4, item 8): their effect shows in the blocks.
    const fp2002 = block(out, 'rules: SharePoint 2010 as FrontPage 2002 (fpse)');
    hasLine(fp2002, /^ {2}rules applied: fpse-looks-like-fp2002$/, 'the rule that applied to every exchange');
    hasLine(fp2002, /^ {2}server version\s+12\.0\.0\.6415\s+5\.0\.2\.6790\s+5\.0\.2\.6790\s+accepted$/, 'downgraded');
    const floor = block(out, 'rules: 4.0.2.2610 below the floor (fpse)');
    hasLine(floor, /^ {2}server version\s+4\.0\.2\.2610\s+5\.0\.2\.6790\s+–\s+rejected-client-too-old$/, 'refused by a rule');
    hasLine(floor, /rules applied: fpse-looks-like-fp2002, fpse-refuse-below-floor$/, 'both rules');
    const rtm = block(out, 'rules: Exchange 2013 RTM, endpoint off (mapihttp)');
    hasLine(rtm, /^ {2}rules applied: mapi-server-2013-rtm, mapi-refuse-endpoint-disabled$/, 'rules');
    hasLine(rtm, /^ {2}Connect\s+Outlook\/16\.0\.15928\.20006\s+Exchange\/15\.00\.0516\.032/, 'the old build');
    hasLine(rtm, /^ +server-predates-mapihttp, endpoint-disabled$/, 'verdicts on their own line when the row is too wide');
    assert.match(out, /0 failed\./);
  });
});

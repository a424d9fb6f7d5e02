/**
 * `./proxy demo` (issue 3, item 6): both simulators behind the proxy, both clients through it;
 * the output shows both protocols' versions and verdicts, and the command exits 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './helpers/process.js';

describe('./proxy demo', () => {
  it('prints what each protocol negotiated, with the verdicts, and exits 0', async () => {
    const result = await runCli(['demo'], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, `exit code; stderr: ${result.stderr}`);
    const out = result.stdout;
    // FPSE: accepted on Min(client, server), a too-old client refused, a normalised echo caught.
    assert.match(out, /\| fpse\s+\| server version\s+\| 12\.0\.0\.6415\s+\| 14\.0\.0\.6029\s+\| 12\.0\.0\.6415\s+\| accepted/);
    assert.match(out, /\| fpse\s+\| server version\s+\| 3\.0\.2\.1000\s+\| 14\.0\.0\.6029\s+\| –\s+\| rejected-client-too-old/);
    assert.match(out, /echo-mismatch/);
    // MAPI/HTTP: both builds on every request type of the session, including the long poll.
    for (const type of ['Connect', 'Execute', 'NotificationWait', 'Disconnect', 'Bind', 'Unbind']) {
      assert.match(out, new RegExp(`\\| mapihttp\\s+\\| ${type}\\s+\\| Outlook/16\\.0\\.15928\\.20006\\s+\\| Exchange/15\\.02\\.1544\\.014\\s+\\| –\\s+\\| ok`), type);
    }
    // Shipped scenarios behind a second proxy (issue 4, item 8): their effect shows in the rows.
    assert.match(out, /\| rules: SharePoint 2010 as FrontPage 2002 \| fpse\s+\| server version\s+\| 12\.0\.0\.6415\s+\| 5\.0\.2\.6790\s+\| 5\.0\.2\.6790\s+\| accepted\s+\| fpse-looks-like-fp2002/);
    assert.match(out, /\| rules: 4\.0\.2\.2610 below the floor\s+\| fpse\s+\| server version\s+\| 4\.0\.2\.2610 .*rejected-client-too-old\s+\| .*fpse-refuse-below-floor/);
    assert.match(out, /\| mapihttp\s+\| Connect\s+\| Outlook\/16\.0\.15928\.20006\s+\| Exchange\/15\.00\.0516\.032 .*server-predates-mapihttp, endpoint-disabled\s+\| mapi-server-2013-rtm, mapi-refuse-endpoint-disabled/);
    assert.match(out, /0 failed\./);
  });
});

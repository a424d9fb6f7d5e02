/**
 * `./proxy tail`'s line for a finished exchange (src/cli/tail.ts): built from the feed's summary,
 * it reads as the proxy's own terminal log line does (log-pretty.ts), verdicts coloured by the
 * worst level.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exchangeLine } from '../../src/cli/tail.js';
import type { ExchangeSummary } from '../../src/control/exchange-summary.js';
import { COLOURS, formatLine, NO_COLOURS } from '../../src/log-pretty.js';

const TIME = Date.UTC(2026, 11, 7, 19, 12, 40, 499);

const FPSE: ExchangeSummary = {
  id: 'k2f-1',
  kind: 'http',
  method: 'POST',
  url: 'http://sp.lab/_vti_bin/shtml.dll/_vti_rpc',
  status: 200,
  protocol: 'fpse',
  operation: 'server version',
  versions: { client: '3.0.2.1000', server: '14.0.0.6029' },
  verdicts: [{ code: 'server-should-have-rejected', level: 'violation', message: '…' }],
  rules: ['fpse-refuse'],
  duration: 4.123,
  bytes: { request: 52, response: 310 },
};

describe('./proxy tail lines', () => {
  it('a finished exchange prints as the log prints it', () => {
    const fromLog = formatLine(
      { level: 30, time: TIME, msg: 'exchange', method: 'POST', url: FPSE.url, status: 200, ms: 4.1, up: 52, down: 310, proto: 'fpse "server version" client=3.0.2.1000 server=14.0.0.6029 server-should-have-rejected', verdict: 'violation', rules: ['fpse-refuse'] },
      NO_COLOURS,
    );
    assert.equal(exchangeLine(TIME, FPSE, NO_COLOURS), fromLog);
    assert.match(fromLog, /POST http:\/\/sp\.lab\/_vti_bin\/shtml\.dll\/_vti_rpc 200 4\.1ms ↑52B ↓310B fpse "server version" client=3\.0\.2\.1000 server=14\.0\.0\.6029 server-should-have-rejected \[fpse-refuse\]$/);
  });

  it('colours the protocol part by the worst verdict; none without colours', () => {
    assert.ok(exchangeLine(TIME, FPSE, COLOURS).includes('\u001b[31mfpse "server version"'));
    const notice = { ...FPSE, verdicts: [{ code: 'a', level: 'ok' as const, message: '' }, { code: 'b', level: 'notice' as const, message: '' }] };
    assert.ok(exchangeLine(TIME, notice, COLOURS).includes('\u001b[33mfpse'));
    assert.ok(!exchangeLine(TIME, FPSE, NO_COLOURS).includes('\u001b['));
  });

  it('MAPI/HTTP operations are not quoted; a plain exchange has no protocol part; an error shows its code', () => {
    const mapi = { ...FPSE, protocol: 'mapihttp' as const, operation: 'Connect', versions: { client: 'Outlook/16.0', server: 'Exchange/15.2' }, verdicts: [], rules: [] };
    assert.match(exchangeLine(TIME, mapi, NO_COLOURS), / mapihttp Connect client=Outlook\/16\.0 server=Exchange\/15\.2$/);
    const plain: ExchangeSummary = { id: 'x', kind: 'http', method: 'GET', url: 'http://h/', verdicts: [], rules: [], bytes: { request: 0, response: 0 }, error: 'upstream-refused' };
    assert.match(exchangeLine(TIME, plain, NO_COLOURS), /GET http:\/\/h\/ - ↑0B ↓0B upstream-refused$/);
  });
});

/**
 * The Extended Protection hint (issue 5, item 6): an intercepted 401 answering the client's final
 * NTLM/Negotiate message is flagged on the record and logged once per host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExchange, type Exchange } from '../../src/core/exchange.js';
import { isFinalAuthMessage, WindowsAuthHints } from '../../src/proxy/auth-hint.js';
import { createLogSink } from '../helpers/log-sink.js';

function ntlm(type: number, prefix = Buffer.alloc(0)): string {
  const body = Buffer.concat([prefix, Buffer.from('NTLMSSP\0', 'latin1'), Buffer.from([type, 0, 0, 0]), Buffer.alloc(24)]);
  return body.toString('base64');
}

function exchange(auth: string | undefined, status: number, intercepted = true, url = 'https://mail.contoso.com/ews/exchange.asmx'): Exchange {
  const x = createExchange('http', { address: '127.0.0.1', port: 1, connection: 1 }, { method: 'POST', url: '/ews/exchange.asmx', httpVersion: '1.1', rawHeaders: auth === undefined ? [] : ['Authorization', auth] });
  x.url = url;
  if (intercepted) x.intercepted = true;
  x.response = { statusCode: status, statusMessage: '', httpVersion: '1.1', rawHeaders: [], source: 'upstream' };
  return x;
}

describe('isFinalAuthMessage', () => {
  it('knows NTLM type 3 from types 1 and 2, bare or inside SPNEGO', () => {
    assert.equal(isFinalAuthMessage(`NTLM ${ntlm(3)}`), true);
    assert.equal(isFinalAuthMessage(`NTLM ${ntlm(1)}`), false);
    assert.equal(isFinalAuthMessage(`Negotiate ${ntlm(3, Buffer.from([0xa1, 0x81, 0x80, 0x30]))}`), true);
    assert.equal(isFinalAuthMessage(`Negotiate ${ntlm(1, Buffer.from([0x60, 0x48]))}`), false);
  });

  it('takes a Kerberos GSS-API token under Negotiate as final; Basic and garbage are not', () => {
    assert.equal(isFinalAuthMessage(`Negotiate ${Buffer.from([0x60, 0x82, 0x01, 0x00, 0x06]).toString('base64')}`), true);
    assert.equal(isFinalAuthMessage('Basic dXNlcjpwdw=='), false);
    assert.equal(isFinalAuthMessage('NTLM'), false);
    assert.equal(isFinalAuthMessage('NTLM !!!'), false);
  });
});

describe('WindowsAuthHints', () => {
  it('flags an intercepted 401 after a type-3 message on the record, and logs once per host', () => {
    const logs = createLogSink('info');
    const hints = new WindowsAuthHints(logs.logger);
    const first = exchange(`NTLM ${ntlm(3)}`, 401);
    const second = exchange(`NTLM ${ntlm(3)}`, 401);
    hints.check(first);
    hints.check(second);
    assert.match(first.hints?.[0] ?? '', /Extended Protection.*--no-intercept mail\.contoso\.com/);
    assert.equal(second.hints?.length, 1, 'every such exchange carries the hint');
    logs.logger.flush();
    assert.equal(logs.lines.filter((l) => String(l.msg).includes('Extended Protection')).length, 1, 'logged once for the host');
  });

  it('stays quiet for type 1, for a success, and without interception', () => {
    const hints = new WindowsAuthHints(createLogSink('info').logger);
    for (const x of [exchange(`NTLM ${ntlm(1)}`, 401), exchange(`NTLM ${ntlm(3)}`, 200), exchange(`NTLM ${ntlm(3)}`, 401, false), exchange(undefined, 401)]) {
      hints.check(x);
      assert.equal(x.hints, undefined);
    }
  });
});

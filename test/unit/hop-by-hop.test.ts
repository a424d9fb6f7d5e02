import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stripHopByHop, wantsKeepAlive } from '../../src/proxy/hop-by-hop.js';

describe('stripHopByHop (RFC 9110 §7.6.1)', () => {
  it('removes Connection, the fields it names and the fixed hop-by-hop set, keeping the rest in order and case', () => {
    const raw = [
      'Host', 'a', 'Connection', 'close, X-Hop', 'x-HOP', '1', 'Keep-Alive', 'timeout=5', 'Proxy-Connection', 'keep-alive',
      'TE', 'trailers', 'Trailer', 'X-T', 'Upgrade', 'h2c', 'X-Keep', 'y', 'x-keep', 'z',
    ];
    const { headers, removed } = stripHopByHop(raw);
    assert.deepEqual(headers, ['Host', 'a', 'X-Keep', 'y', 'x-keep', 'z']);
    assert.deepEqual(removed, ['Connection', 'x-HOP', 'Keep-Alive', 'Proxy-Connection', 'TE', 'Trailer', 'Upgrade']);
  });

  it('returns the very same array when nothing is hop-by-hop (no allocation on the hot path)', () => {
    const raw = ['Host', 'a', 'Accept', '*/*'];
    assert.equal(stripHopByHop(raw).headers, raw);
  });

  it('keeps Connection and Upgrade on upgrades, and never lets Connection remove framing fields', () => {
    const raw = ['Connection', 'Upgrade, Content-Length, Host', 'Upgrade', 'websocket', 'Content-Length', '0', 'Host', 'h'];
    assert.deepEqual(stripHopByHop(raw, { upgrade: true }).headers, raw);
  });

  it('drops Proxy-Authorization only when asked (forward mode: it was meant for this proxy)', () => {
    const raw = ['Proxy-Authorization', 'Basic eA==', 'Authorization', 'NTLM abc'];
    assert.deepEqual(stripHopByHop(raw).headers, raw);
    assert.deepEqual(stripHopByHop(raw, { dropProxyAuthorization: true }).headers, ['Authorization', 'NTLM abc']);
  });
});

describe('wantsKeepAlive', () => {
  it('follows HTTP/1.1 defaults and Connection tokens', () => {
    assert.equal(wantsKeepAlive('1.1', []), true);
    assert.equal(wantsKeepAlive('1.1', ['connection', 'Close']), false);
    assert.equal(wantsKeepAlive('1.0', []), false);
    assert.equal(wantsKeepAlive('1.0', ['Connection', 'keep-alive']), true);
  });
});

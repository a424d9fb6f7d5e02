import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeaderSet, getHeader, getHeaderValues, toHeaderObject, toPairs } from '../../src/core/raw-headers.js';

describe('raw headers', () => {
  const raw = ['Host', 'h', 'WWW-Authenticate', 'NTLM', 'Set-Cookie', 'a=1', 'www-authenticate', 'Negotiate', 'Set-Cookie', 'b=2'];
  it('finds values case-insensitively, in wire order', () => {
    assert.equal(getHeader(raw, 'host'), 'h');
    assert.deepEqual(getHeaderValues(raw, 'WWW-AUTHENTICATE'), ['NTLM', 'Negotiate']);
    assert.equal(getHeader(raw, 'missing'), undefined);
  });
  it('builds an outgoing header object that keeps first spelling, order and repeats', () => {
    const obj = toHeaderObject(raw);
    assert.deepEqual(Object.keys(obj), ['Host', 'WWW-Authenticate', 'Set-Cookie']);
    assert.deepEqual(obj['WWW-Authenticate'], ['NTLM', 'Negotiate']);
    assert.deepEqual(obj['Set-Cookie'], ['a=1', 'b=2']);
  });
  it('pairs for records', () => {
    assert.deepEqual(toPairs(['A', '1', 'b', '2']), [['A', '1'], ['b', '2']]);
  });
  it('picks several headers in one pass: any case on the wire, keyed by the spelling asked for, repeats in order', () => {
    const set = new HeaderSet(['WWW-Authenticate', 'host', 'X-Absent', 'Set-Cookie']);
    const picked = set.pick([...raw, 'SET-COOKIE', 'c=3', 'X-Other', 'x']);
    assert.deepEqual([...picked], [
      ['host', ['h']],
      ['WWW-Authenticate', ['NTLM', 'Negotiate']],
      ['Set-Cookie', ['a=1', 'b=2', 'c=3']],
    ]);
    assert.equal(picked.has('X-Absent'), false);
    assert.equal(set.pick([]).size, 0);
  });
});

/** The proxy's own addresses (loop refusal), CONNECT host names, and the --allow client list. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isHostName } from '../../src/core/origin.js';
import { ClientAccess, defaultAccess, parseCidr } from '../../src/proxy/client-access.js';
import { OwnAddresses } from '../../src/proxy/own-addresses.js';

describe('OwnAddresses', () => {
  it('knows a loopback listener by its address, loopback names and 0.0.0.0, on its port only', () => {
    const own = new OwnAddresses();
    own.add('127.0.0.1', 8080);
    for (const host of ['127.0.0.1', 'localhost', 'LOCALHOST.', 'app.localhost', '127.0.0.2', '::1', '[::1]', '::ffff:127.0.0.1', '0.0.0.0', '0:0:0:0:0:0:0:1']) {
      assert.equal(own.includes(host, 8080), true, host);
    }
    assert.equal(own.includes('127.0.0.1', 8081), false);
    assert.equal(own.includes('192.0.2.1', 8080), false);
    assert.equal(own.includes('example.com', 8080), false);
  });

  it('knows a specific non-loopback listener by that address only', () => {
    const own = new OwnAddresses();
    own.add('192.0.2.10', 3128);
    assert.equal(own.includes('192.0.2.10', 3128), true);
    assert.equal(own.includes('127.0.0.1', 3128), false);
  });

  it('counts loopback and 0.0.0.0 as its own for a wildcard listener, and forgets a removed one', () => {
    const own = new OwnAddresses();
    const remove = own.add('::', 9000);
    assert.equal(own.includes('127.0.0.1', 9000), true);
    assert.equal(own.includes('0.0.0.0', 9000), true);
    assert.equal(own.includes('localhost', 9000), true);
    remove();
    assert.equal(own.includes('127.0.0.1', 9000), false);
  });
});

describe('isHostName (CONNECT targets)', () => {
  it('takes IP literals and RFC 1123 names, and nothing a resolver would not know', () => {
    for (const ok of ['example.com', 'a', 'xn--bcher-kva.example', 'my_host.lab', 'example.com.', '192.0.2.1', '::1', 'a-b.c', `${'a'.repeat(63)}.com`]) assert.equal(isHostName(ok), true, ok);
    for (const bad of ['%%%', 'bad%2ehost', '-lead.example', 'trail-.example', 'a..b', '.a', '', 'a b', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}aa`]) assert.equal(isHostName(bad), false, bad);
  });
});

describe('ClientAccess', () => {
  it('admits loopback and private networks by default, IPv4-mapped addresses included', () => {
    const access = defaultAccess();
    for (const ok of ['127.0.0.1', '10.1.2.3', '172.31.0.1', '192.168.1.1', '100.64.0.1', '169.254.1.1', '::1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1']) assert.equal(access.allows(ok), true, ok);
    for (const bad of ['8.8.8.8', '172.32.0.1', '2001:db8::1', '::ffff:8.8.8.8', undefined]) assert.equal(access.allows(bad), false, String(bad));
  });

  it('admits exactly a given list', () => {
    const access = new ClientAccess([parseCidr('192.0.2.0/24')!, parseCidr('2001:db8::7')!]);
    assert.equal(access.allows('192.0.2.200'), true);
    assert.equal(access.allows('2001:db8::7'), true);
    assert.equal(access.allows('127.0.0.1'), false);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTarget } from '../../src/config.js';
import { resolveDestination } from '../../src/proxy/destination.js';

describe('resolveDestination', () => {
  it('forward mode: takes the origin from an absolute-form URL and keeps the path byte for byte', () => {
    const d = resolveDestination('http://Example.test:8081/a//b/../c?x=%2F#frag', undefined);
    assert.ok(d.ok);
    assert.equal(d.origin.hostname, 'Example.test');
    assert.equal(d.origin.port, 8081);
    assert.equal(d.origin.authority, 'Example.test:8081');
    assert.equal(d.path, '/a//b/../c?x=%2F');
  });

  it('forward mode: empty path becomes "/", a bare query "/?q", default port 80, IPv6 literals', () => {
    const a = resolveDestination('http://h', undefined);
    assert.ok(a.ok);
    assert.equal(a.path, '/');
    assert.equal(a.origin.port, 80);
    const b = resolveDestination('http://h?q=1', undefined);
    assert.ok(b.ok);
    assert.equal(b.path, '/?q=1');
    const c = resolveDestination('http://[::1]:9/x', undefined);
    assert.ok(c.ok);
    assert.equal(c.origin.hostname, '::1');
    assert.equal(c.origin.port, 9);
  });

  it('forward mode: refuses origin-form with a hint, userinfo, and non-HTTP schemes; serves https:// too', () => {
    const a = resolveDestination('/just/a/path', undefined);
    assert.ok(!a.ok);
    assert.equal(a.status, 400);
    assert.match(a.message, /--target/);
    const b = resolveDestination('http://user:pw@h/', undefined);
    assert.ok(!b.ok);
    const c = resolveDestination('ftp://h/', undefined);
    assert.ok(!c.ok);
    // https:// in plain text is served: the proxy speaks TLS to the upstream (issue 5).
    const d = resolveDestination('https://h/x', undefined);
    assert.ok(d.ok);
    assert.equal(d.origin.protocol, 'https:');
    assert.equal(d.origin.port, 443);
    assert.equal(d.path, '/x');
  });

  it('reverse mode: every request goes to the target; an absolute-form target keeps only its path', () => {
    const target = parseTarget('http://127.0.0.1:9000');
    const a = resolveDestination('/x?y', target);
    assert.ok(a.ok);
    assert.equal(a.origin, target);
    assert.equal(a.path, '/x?y');
    const b = resolveDestination('http://elsewhere/z', target);
    assert.ok(b.ok);
    assert.equal(b.path, '/z');
  });
});

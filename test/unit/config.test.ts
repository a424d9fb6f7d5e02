import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseListen, parseTarget } from '../../src/config.js';
import { ProgramError } from '../../src/errors.js';

function throwsCode(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof ProgramError && err.code === code && pattern.test(err.message) && (err.hint ?? '').length > 0);
}

describe('parseListen', () => {
  it('accepts HOST:PORT, [v6]:PORT, :PORT and PORT', () => {
    assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen(':9000'), { host: '127.0.0.1', port: 9000 });
    assert.deepEqual(parseListen('9000'), { host: '127.0.0.1', port: 9000 });
    assert.deepEqual(parseListen('localhost:1'), { host: 'localhost', port: 1 });
  });
  it('refuses what is not an address, with a hint', () => {
    throwsCode(() => parseListen('1.2.3:abc'), 'ERR_BAD_LISTEN', /not an address/);
    throwsCode(() => parseListen('127.0.0.1:70000'), 'ERR_BAD_LISTEN', /outside/);
  });
});

describe('parseTarget', () => {
  it('accepts http and https origins, with default ports', () => {
    assert.deepEqual(parseTarget('http://127.0.0.1:8081'), { protocol: 'http:', hostname: '127.0.0.1', port: 8081, authority: '127.0.0.1:8081' });
    assert.equal(parseTarget('https://exchange.lab/').port, 443);
    assert.equal(parseTarget('HTTP://h').port, 80);
  });
  it('refuses other schemes, non-URLs and paths, saying which', () => {
    throwsCode(() => parseTarget('ftp://x'), 'ERR_BAD_TARGET', /not an http/);
    throwsCode(() => parseTarget('nonsense'), 'ERR_BAD_TARGET', /not a URL/);
    throwsCode(() => parseTarget('http://h/path'), 'ERR_BAD_TARGET', /path/);
    throwsCode(() => parseTarget('http://h:99999'), 'ERR_BAD_TARGET', /port/);
  });
});

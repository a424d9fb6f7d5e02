/**
 * The default --max-connections is derived from the open-file limit (`ulimit -n`), and a cap
 * above that limit is refused at start (issue 21, finding 4).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultMaxConnections, parseMaxConnections } from '../../src/config.js';
import { openFileLimit } from '../../src/core/fd-limit.js';
import { ProgramError } from '../../src/errors.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 1048576              files
Max locked memory         8388608              8388608              bytes
`;

describe('connection cap and the open-file limit', () => {
  it('reads the soft limit from /proc/self/limits text', () => {
    assert.equal(openFileLimit(LIMITS), 1024);
    assert.equal(openFileLimit('Max open files            unlimited            unlimited            files\n'), undefined);
    assert.equal(typeof openFileLimit(), process.platform === 'linux' ? 'number' : 'undefined');
  });

  it('defaults to half the limit less a reserve, never above it, 512 when unknown', () => {
    assert.equal(defaultMaxConnections(1024), 496);
    assert.equal(defaultMaxConnections(40), 4);
    assert.equal(defaultMaxConnections(10), 1);
    assert.equal(defaultMaxConnections(null), 512);
    assert.ok(defaultMaxConnections(256) < 256);
  });

  it('refuses a cap above the limit, or not a whole number, with ERR_BAD_OPTION and a fix', () => {
    assert.equal(parseMaxConnections('300', 1024), 300);
    assert.equal(parseMaxConnections(1024, 1024), 1024);
    for (const bad of ['0', '-1', '2.5', 'many']) {
      assert.throws(() => parseMaxConnections(bad, 1024), (err: ProgramError) => err.code === 'ERR_BAD_OPTION' && /at least 1/.test(err.message));
    }
    assert.throws(
      () => parseMaxConnections('5000', 1024),
      (err: ProgramError) => err.code === 'ERR_BAD_OPTION' && /ulimit -n 1024/.test(err.message) && /at most 496/.test(err.hint ?? ''),
    );
  });
});

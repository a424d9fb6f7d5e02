/**
 * Journal body encoding (src/record/entry.ts): readable text stays text, everything else is
 * base64, and both come back byte for byte.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeBytes, encodeBody, encodeBytes } from '../../src/record/entry.js';

describe('journal body encoding', () => {
  it('keeps readable UTF-8 as text, with tabs and line ends', () => {
    assert.deepEqual(encodeBytes(Buffer.from('method=server+version%3a12%2e0\r\n\tdone é')), { encoding: 'utf8', data: 'method=server+version%3a12%2e0\r\n\tdone é' });
  });

  it('uses base64 for invalid UTF-8 and for control bytes (JSON would spell each NUL in six bytes)', () => {
    assert.equal(encodeBytes(Buffer.from([0xff, 0xfe])).encoding, 'base64');
    assert.equal(encodeBytes(Buffer.alloc(1024)).encoding, 'base64');
    assert.equal(encodeBytes(Buffer.from('PROCESSING\r\n\x00\x01')).encoding, 'base64');
  });

  it('marks a cut body with its real size', () => {
    assert.deepEqual(encodeBody({ bytes: Buffer.from('abc'), size: 10, truncated: true }), { size: 10, encoding: 'utf8', data: 'abc', truncated: true });
    assert.equal('truncated' in encodeBody({ bytes: Buffer.from('abc'), size: 3, truncated: false }), false);
  });

  it('round-trips any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => assert.deepEqual(decodeBytes(encodeBytes(Buffer.from(bytes))), Buffer.from(bytes))), { numRuns: 500 });
  });
});

/**
 * The gate between synchronous and thread-pool writes (src/core/sync-writes.ts): open until a
 * write is slow, closed for the spell after it, open again once the spell is over.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyncWriteGate } from '../../src/core/sync-writes.js';

describe('synchronous write gate', () => {
  it('stays open while writes are fast, closes after a slow one, reopens after the spell', async () => {
    const gate = new SyncWriteGate(2, 50);
    assert.equal(gate.open, true);
    assert.equal(gate.took(0.05), false);
    assert.equal(gate.took(2), false, 'the bound itself is not slow');
    assert.equal(gate.open, true);
    assert.equal(gate.took(2.5), true, 'a slow write closes it');
    assert.equal(gate.open, false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(gate.open, true, 'open again after the spell');
  });

  it('with strikes, closes only after that many slow writes within the window', () => {
    const gate = new SyncWriteGate(2, 50, 3);
    assert.equal(gate.took(5), false);
    assert.equal(gate.took(5), false);
    assert.equal(gate.open, true, 'two preempted writes do not close it');
    assert.equal(gate.took(1), false);
    assert.equal(gate.took(5), true, 'the third slow write within the window does');
    assert.equal(gate.open, false);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruMap } from '../../src/core/lru-map.js';

describe('LruMap', () => {
  it('forgets the least recently used entry past its limit', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    assert.equal(map.get('a'), 1); // a is now the most recent
    map.set('c', 3);
    assert.equal(map.get('b'), undefined);
    assert.equal(map.get('a'), 1);
    assert.equal(map.get('c'), 3);
    assert.equal(map.size, 2);
  });
  it('replacing a key does not grow it', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('a', 2);
    assert.equal(map.size, 1);
    assert.equal(map.get('a'), 2);
  });
  it('keeps recency right when the most recent key is asked for again (the shortcut that skips re-inserting it)', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    assert.equal(map.get('b'), 2); // already the most recent: not moved
    assert.equal(map.get('a'), 1); // now a is the most recent, b the least
    map.set('c', 3);
    assert.equal(map.get('b'), undefined);
    assert.equal(map.get('a'), 1);
    map.set('a', 10); // a is the most recent: replaced in place
    map.set('d', 4); // evicts c
    assert.equal(map.get('c'), undefined);
    assert.deepEqual([map.get('a'), map.get('d'), map.size], [10, 4, 2]);
  });
});

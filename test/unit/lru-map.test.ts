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
});

/**
 * Replayable chance (`--seed N`): one stream per rule, the same for the same seed and id, and
 * plausibly uniform. No sockets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createChance, randomSeed } from '../../src/rules/random.js';

const draw = (next: () => number, n: number): number[] => Array.from({ length: n }, () => next());

describe('createChance', () => {
  it('gives the same sequence for the same seed and rule id', () => {
    assert.deepEqual(draw(createChance(42, 'mapi-context-lost'), 100), draw(createChance(42, 'mapi-context-lost'), 100));
  });

  it('gives different sequences for different ids or seeds', () => {
    const base = draw(createChance(42, 'rule-1'), 20);
    assert.notDeepEqual(draw(createChance(42, 'rule-2'), 20), base);
    assert.notDeepEqual(draw(createChance(43, 'rule-1'), 20), base);
  });

  it("keeps one rule's decisions when another rule draws more", () => {
    const alone = createChance(7, 'b');
    const a = createChance(7, 'a');
    const b = createChance(7, 'b');
    draw(a, 50); // rule a sees more traffic this run
    assert.deepEqual(draw(b, 10), draw(alone, 10));
  });

  it('stays in [0, 1) and is roughly uniform over 10k draws', () => {
    const values = draw(createChance(1, 'uniform'), 10_000);
    assert.ok(values.every((v) => v >= 0 && v < 1));
    const buckets = new Array<number>(10).fill(0);
    for (const v of values) buckets[Math.floor(v * 10)]! += 1;
    // 1000 expected per bucket, standard deviation about 30: these bounds are loose on purpose.
    for (const count of buckets) assert.ok(count > 850 && count < 1150, `bucket counts ${buckets.join(', ')}`);
    const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
    assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
    // A chance of 0.25 fires about a quarter of the time.
    const fired = values.filter((v) => v < 0.25).length;
    assert.ok(fired > 2300 && fired < 2700, `fired ${fired} of 10000`);
  });
});

describe('randomSeed', () => {
  it('is a 32-bit unsigned integer, and not always the same', () => {
    const seeds = Array.from({ length: 8 }, () => randomSeed());
    for (const seed of seeds) assert.ok(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff, String(seed));
    assert.ok(new Set(seeds).size > 1);
  });
});

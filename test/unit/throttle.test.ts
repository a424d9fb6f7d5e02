/**
 * The throttle action's Transform: holds the average rate at or under the limit, lets a small
 * keep-alive through at once, and leaves no timer behind when its connection closes. Only lower
 * bounds on wall-clock time are asserted: a noisy machine can make anything slower, never faster.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Throttle } from '../../src/proxy/throttle.js';

const timeouts = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

/** Collects what comes out of `throttle`, with the time each chunk arrived. */
function collect(throttle: Throttle): { chunks: Array<{ at: number; data: Buffer }> } {
  const out = { chunks: [] as Array<{ at: number; data: Buffer }> };
  throttle.on('data', (data: Buffer) => out.chunks.push({ at: performance.now(), data }));
  return out;
}

describe('Throttle', () => {
  it('passes 32 KiB at 64 KiB/s in order, taking at least about 0.4 s', async () => {
    const input = Buffer.alloc(32 * 1024);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7 + (i >> 8)) & 0xff;
    const throttle = new Throttle(64 * 1024);
    const out = collect(throttle);
    const start = performance.now();
    // Several writes of uneven sizes, so slices cross chunk boundaries.
    const pieces = [input.subarray(0, 1000), input.subarray(1000, 20_000), input.subarray(20_000)];
    await pipeline(Readable.from(pieces), throttle);
    const elapsed = performance.now() - start;
    assert.deepEqual(Buffer.concat(out.chunks.map((c) => c.data)), input);
    // (32768 - 6554 burst) / 65536 B/s = 0.4 s; 0.35 s leaves room for timer rounding.
    assert.ok(elapsed >= 350, `took ${elapsed.toFixed(0)} ms`);
    assert.ok(out.chunks.length > 3, 'data went out in slices');
  });

  it('lets the first slice out at once', async () => {
    const throttle = new Throttle(10 * 1024);
    const out = collect(throttle);
    const start = performance.now();
    throttle.write(Buffer.alloc(5000));
    await sleep(0);
    assert.ok(out.chunks.length >= 1 && out.chunks[0]!.data.length >= 1024, 'a burst of 0.1 s worth leaves at once');
    throttle.destroy();
    assert.ok(performance.now() - start < 1000);
  });

  it('passes a 9-byte keep-alive under the rate promptly, even at a low rate', async () => {
    for (const rate of [8 * 1024, 50]) {
      const throttle = new Throttle(rate);
      const out = collect(throttle);
      for (let i = 0; i < 2; i++) {
        const written = performance.now();
        throttle.write('PENDING\r\n');
        while (out.chunks.length <= i && performance.now() - written < 1000) await sleep(5);
        assert.equal(out.chunks.length, i + 1, `keep-alive ${i} at ${rate} B/s arrived`);
        assert.equal(out.chunks[i]!.data.toString(), 'PENDING\r\n');
        assert.ok(out.chunks[i]!.at - written < 1000);
      }
      throttle.end();
      await new Promise((resolve) => throttle.on('end', resolve));
    }
  });

  it('waits for the remaining bytes before ending', async () => {
    const throttle = new Throttle(20 * 1024);
    const out = collect(throttle);
    const start = performance.now();
    throttle.end(Buffer.alloc(6000));
    await new Promise((resolve) => throttle.on('end', resolve));
    assert.equal(Buffer.concat(out.chunks.map((c) => c.data)).length, 6000);
    // 2048 bytes of burst, then 3952 at 20 KiB/s: about 190 ms.
    assert.ok(performance.now() - start >= 150);
  });

  it('leaves no timer pending when destroyed mid-stream', async () => {
    const before = timeouts();
    const throttle = new Throttle(1024);
    const out = collect(throttle);
    throttle.write(Buffer.alloc(64 * 1024));
    await sleep(20);
    assert.ok(out.chunks.length >= 1, 'the burst went out');
    assert.ok(timeouts() > before, 'the throttle waits on a timer');
    throttle.destroy();
    await new Promise((resolve) => throttle.on('close', resolve));
    assert.equal(timeouts(), before, 'destroy cleared it');
  });

  it('refuses a rate that is not a positive number', () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => new Throttle(rate), RangeError);
  });
});

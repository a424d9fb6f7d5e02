/**
 * LeafCache (src/tls/leaf-cache.ts): one context per normalised server name, bounded, one issue
 * for concurrent first uses, failures not cached, and issuing that leaves the event loop free.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { openCa, type CertificateAuthority } from '../../src/tls/ca.js';
import { LeafCache } from '../../src/tls/leaf-cache.js';
import { createLogSink } from '../helpers/log-sink.js';

const dir = mkdtempSync(join(tmpdir(), 'vp-leaf-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let ca: CertificateAuthority;
before(async () => {
  ca = await openCa(join(dir, 'ca'), createLogSink('warn').logger);
});

/** The CA with its issueLeaf calls counted (and optionally replaced). */
function counting(issue?: CertificateAuthority['issueLeaf']): { ca: CertificateAuthority; issued: string[][] } {
  const issued: string[][] = [];
  return {
    issued,
    ca: {
      ...ca,
      issueLeaf: (names) => {
        issued.push(names);
        return (issue ?? ca.issueLeaf)(names);
      },
    },
  };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('LeafCache', () => {
  it('returns the same context object on a cache hit', async () => {
    const { ca: counted, issued } = counting();
    const cache = new LeafCache(counted);
    const first = await cache.context('hit.example.test');
    const again = await cache.context('hit.example.test');
    assert.equal(again, first);
    assert.equal(issued.length, 1);
    assert.equal(cache.size, 1);
  });

  it('keys on the normalised name: case, trailing dot, IPv6 brackets and form, IDN A-labels', async () => {
    const { ca: counted, issued } = counting();
    const cache = new LeafCache(counted);
    const a = await cache.context('Mixed.Example.TEST.');
    assert.equal(await cache.context('mixed.example.test'), a);
    const v6 = await cache.context('[::1]');
    assert.equal(await cache.context('::1'), v6);
    assert.equal(await cache.context('0:0:0:0:0:0:0:1'), v6);
    const idn = await cache.context('Bücher.example.test');
    assert.equal(await cache.context('xn--bcher-kva.example.test'), idn);
    assert.deepEqual(issued, [['mixed.example.test'], ['::1'], ['xn--bcher-kva.example.test']]);
  });

  it('evicts the least recently used context past its bound', async () => {
    const { ca: counted, issued } = counting();
    const cache = new LeafCache(counted, { size: 2 });
    const a = await cache.context('a.test');
    await cache.context('b.test');
    assert.equal(await cache.context('a.test'), a, 'a is now the most recent');
    await cache.context('c.test'); // evicts b
    assert.equal(cache.size, 2);
    assert.equal(await cache.context('a.test'), a);
    await cache.context('b.test'); // issued again
    assert.deepEqual(issued.map(([n]) => n), ['a.test', 'b.test', 'c.test', 'b.test']);
  });

  it('concurrent first uses of one name share one issue', async () => {
    const { ca: counted, issued } = counting();
    const cache = new LeafCache(counted);
    const contexts = await Promise.all(Array.from({ length: 20 }, (_, i) => cache.context(i % 2 === 0 ? 'same.test' : 'SAME.test.')));
    assert.equal(issued.length, 1);
    assert.ok(contexts.every((c) => c === contexts[0]));
  });

  it('does not cache a failed issue: the next call tries again', async () => {
    let fail = true;
    const { ca: counted, issued } = counting((names) => (fail ? Promise.reject(new Error('signer down')) : ca.issueLeaf(names)));
    const cache = new LeafCache(counted);
    await assert.rejects(cache.context('flaky.test'), /signer down/);
    assert.equal(cache.size, 0);
    fail = false;
    assert.ok(await cache.context('flaky.test'));
    assert.equal(issued.length, 2);
  });

  /** The largest event-loop delay (ms) while `work` runs, from a 1 ms-resolution histogram. */
  async function maxDelayDuring(work: () => Promise<unknown>): Promise<{ max: number; p99: number }> {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    await work();
    await new Promise((resolve) => setTimeout(resolve, 5));
    histogram.disable();
    return { max: histogram.max / 1e6, p99: histogram.percentile(99) / 1e6 };
  }

  /**
   * The smallest of up to three runs' largest delays: a blocking implementation blocks in every
   * run, while another process taking the CPU on a shared machine rarely lands in all three.
   */
  async function bestOf3(run: (attempt: number) => Promise<{ max: number; p99: number }>): Promise<{ max: number; p99: number }> {
    let best = await run(0);
    for (let attempt = 1; attempt < 3 && best.max >= 50; attempt++) {
      const next = await run(attempt);
      if (next.max < best.max) best = next;
    }
    return best;
  }

  it('issues without blocking the event loop for long (50 new hosts, one after another)', async (t) => {
    const cache = new LeafCache(ca);
    await cache.context('warm-up.test'); // JIT and the first SSL_CTX are not what this measures
    const durations: number[] = [];
    const delay = await bestOf3((attempt) =>
      maxDelayDuring(async () => {
        for (let i = 0; i < 50; i++) {
          const start = performance.now();
          await cache.context(`host-${i}.sequential-${attempt}.test`);
          durations.push(performance.now() - start);
        }
      }),
    );
    t.diagnostic(`50 hosts one after another: event-loop delay max ${delay.max.toFixed(2)} ms, p99 ${delay.p99.toFixed(2)} ms; first use of a host (issue + secure context) median ${median(durations).toFixed(2)} ms`);
    // Generous: the point is "milliseconds, not the hundreds of a synchronous RSA keygen" on a noisy machine.
    assert.ok(delay.max < 50, `event loop blocked for ${delay.max.toFixed(1)} ms`);
  });

  it('a burst of 50 new hosts at once does not stall the loop either (issues are queued, one step per turn)', async (t) => {
    const cache = new LeafCache(ca);
    await cache.context('warm-up.test');
    let runs = 0;
    const delay = await bestOf3((attempt) => {
      runs += 1;
      return maxDelayDuring(() => Promise.all(Array.from({ length: 50 }, (_, i) => cache.context(`host-${i}.burst-${attempt}.test`))));
    });
    t.diagnostic(`50 hosts at once: event-loop delay max ${delay.max.toFixed(2)} ms, p99 ${delay.p99.toFixed(2)} ms`);
    assert.equal(cache.size, 1 + 50 * runs);
    // Unqueued, the fifty ASN.1 encodings ran back to back: ~100 ms.
    assert.ok(delay.max < 50, `event loop blocked for ${delay.max.toFixed(1)} ms`);
  });

  it('issues one leaf in a few milliseconds (median of 100)', async (t) => {
    const durations: number[] = [];
    for (let i = 0; i < 100; i++) {
      const start = performance.now();
      await ca.issueLeaf([`median-${i}.test`]);
      durations.push(performance.now() - start);
    }
    t.diagnostic(`issueLeaf median ${median(durations).toFixed(2)} ms over 100`);
    assert.ok(median(durations) < 30, `median ${median(durations).toFixed(1)} ms`);
  });
});

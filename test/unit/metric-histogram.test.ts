/**
 * The hand-kept duration histogram (src/control/metric-histogram.ts) prints exactly what
 * prom-client's own Histogram prints for the same observations: values on, between and past the
 * bounds, several label values, an empty registry after reset.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry, type Metric } from 'prom-client';
import { HistogramTally } from '../../src/control/metric-histogram.js';
import { DURATION_BUCKETS } from '../../src/control/metrics.js';

describe('metric histogram', () => {
  it("prints what prom-client's Histogram prints", async () => {
    const theirs = new Registry();
    const reference = new Histogram({ name: 'h_seconds', help: 'help text', labelNames: ['protocol'], buckets: DURATION_BUCKETS, registers: [theirs] });
    const ours = new Registry();
    const tally = new HistogramTally('h_seconds', 'help text', 'protocol', DURATION_BUCKETS);
    ours.registerMetric(tally.asMetric() as unknown as Metric);
    const values = [0, 0.0005, 0.001, 0.0010001, 0.003, 0.25, 1, 7.5, 300, 301, 1e6];
    for (const [i, v] of values.entries()) {
      for (const protocol of i % 3 === 0 ? ['http', 'fpse'] : ['mapihttp']) {
        reference.observe({ protocol }, v);
        tally.observe(protocol, v);
      }
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    ours.resetMetrics();
    theirs.resetMetrics();
    assert.equal(await ours.metrics(), await theirs.metrics());
  });
});

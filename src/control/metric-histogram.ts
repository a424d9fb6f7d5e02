/**
 * One Prometheus histogram with one label, kept as plain numbers on the proxy's hot path and
 * handed to the registry only when scraped (metrics.ts), as metric-tally.ts does for counters.
 * prom-client's `observe()` hashes and validates its labels object on every call; under load that
 * was about a microsecond per exchange, here it is a Map look-up and a short bucket scan.
 *
 * The registry takes any metric that answers `get()` with the values to print; these are the
 * values prom-client's own Histogram gives (`_bucket` cumulative with `le`, `+Inf`, `_sum`,
 * `_count`; Prometheus text format 0.0.4, "Histograms and summaries").
 */

interface Series {
  /** Observations at or below bounds[i] and above bounds[i - 1]; the last slot: above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export interface HistogramValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class HistogramTally {
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelName: string,
    readonly bounds: readonly number[],
  ) {}

  observe(label: string, value: number): void {
    let s = this.series.get(label);
    if (s === undefined) {
      s = { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(label, s);
    }
    // Upper bounds are inclusive (`le`); most exchanges fall in the first few buckets.
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  /** What the registry prints: per series, each bucket's running total, then `+Inf`, sum and count. */
  values(): HistogramValue[] {
    const out: HistogramValue[] = [];
    for (const [label, s] of this.series) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        out.push({ metricName: `${this.name}_bucket`, labels: { le: this.bounds[i]!, [this.labelName]: label }, value: acc });
      }
      out.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.labelName]: label }, value: s.count });
      out.push({ metricName: `${this.name}_sum`, labels: { [this.labelName]: label }, value: s.sum });
      out.push({ metricName: `${this.name}_count`, labels: { [this.labelName]: label }, value: s.count });
    }
    return out;
  }

  /** The object the registry holds (prom-client's Registry.registerMetric: `name`, `get()`, `reset()`). */
  asMetric(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; get(): Promise<object>; reset(): void } {
    return {
      name: this.name,
      help: this.help,
      type: 'histogram',
      aggregator: 'sum',
      get: () => Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values: this.values() }),
      reset: () => this.series.clear(),
    };
  }
}

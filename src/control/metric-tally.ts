/**
 * A Prometheus counter whose counts live in plain numbers on the proxy's hot path and go to
 * prom-client only when scraped. prom-client's `inc()` hashes and validates its labels object on
 * every call (150-300 ns each, measured on this machine); here an exchange costs a Map look-up by
 * the label values, and the labels object is built once per series, when it is first seen.
 */
import type * as PromClient from 'prom-client';

interface Series {
  labels: Record<string, string>;
  n: number;
}

export interface TallyConfig {
  name: string;
  help: string;
  /** The one or two labels `add()` is given values for, in that order. */
  labelNames: [string] | [string, string];
  /** Labels with one value for the whole run (its mode), on every series. */
  constant?: Record<string, string>;
}

export class Tally {
  private readonly series = new Map<string, Series>();

  constructor(
    Counter: typeof PromClient.Counter,
    registry: PromClient.Registry,
    private readonly config: TallyConfig,
  ) {
    const series = this.series;
    new Counter({
      name: config.name,
      help: config.help,
      labelNames: [...Object.keys(config.constant ?? {}), ...config.labelNames],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of series.values()) this.inc(s.labels, s.n);
      },
    });
  }

  /** Adds `n` to the series with these label values. */
  add(n: number, a: string, b?: string): void {
    const key = b === undefined ? a : `${a}\u0000${b}`;
    const found = this.series.get(key);
    if (found !== undefined) {
      found.n += n;
      return;
    }
    const [first, second] = this.config.labelNames;
    const labels: Record<string, string> = { ...this.config.constant, [first]: a };
    if (second !== undefined && b !== undefined) labels[second] = b;
    this.series.set(key, { labels, n });
  }
}

/**
 * The counts of one Prometheus counter, kept as plain numbers on the proxy's hot path and handed
 * to prom-client only when scraped (metrics.ts). prom-client's `inc()` hashes and validates its
 * labels object on every call (150-300 ns each, measured on this machine); here an exchange costs
 * a Map look-up by the label values, and the labels object is built once per series.
 */

export interface TallyConfig {
  name: string;
  help: string;
  /** The one or two labels `add()` is given values for, in that order. */
  labelNames: [string] | [string, string];
  /** Labels with one value for the whole run (its mode), on every series. */
  constant?: Record<string, string>;
  /**
   * Series past this many are counted under OVERFLOW as the first label's value (the second one
   * kept): a bound for labels whose values the traffic's users make, like rule ids.
   */
  maxSeries?: number;
}

/** The first label's value for series past `maxSeries`. */
export const OVERFLOW = '_other';

export interface TalliedSeries {
  labels: Record<string, string>;
  n: number;
}

export class Tally {
  private readonly counts = new Map<string, TalliedSeries>();

  constructor(readonly config: TallyConfig) {}

  /** Every label name, the constant ones first. */
  get labelNames(): string[] {
    return [...Object.keys(this.config.constant ?? {}), ...this.config.labelNames];
  }

  /** Adds `n` to the series with these label values. */
  add(n: number, a: string, b?: string): void {
    const key = b === undefined ? a : `${a}\u0000${b}`;
    const found = this.counts.get(key);
    if (found !== undefined) {
      found.n += n;
      return;
    }
    const max = this.config.maxSeries;
    if (max !== undefined && this.counts.size >= max && a !== OVERFLOW) return this.add(n, OVERFLOW, b);
    const [first, second] = this.config.labelNames;
    const labels: Record<string, string> = { ...this.config.constant, [first]: a };
    if (second !== undefined && b !== undefined) labels[second] = b;
    this.counts.set(key, { labels, n });
  }

  series(): IterableIterator<TalliedSeries> {
    return this.counts.values();
  }
}

/**
 * `GET /metrics` read back through a Prometheus text-format parser from npm (prom2javascript,
 * which throws on a line it cannot read and checks each histogram's +Inf bucket against its
 * count), with look-ups of one series or the sum of several. parse-prometheus-text-format, the
 * better-known parser, folds every labelled histogram into one unlabelled series
 * (yunyu/parse-prometheus-text-format#13), so per-protocol durations could not be read with it.
 */
import assert from 'node:assert/strict';
import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromMetrics } from 'prom2javascript';
import type { ControlledProxy } from './control.js';

export interface Scrape {
  text: string;
  families: PromMetrics;
  /** The sum of the samples of `name` whose labels include `labels` (0 when there is none). */
  value(name: string, labels?: Record<string, string>): number;
  /** The histogram series of `name` with exactly these labels. */
  histogram(name: string, labels: Record<string, string>): PromHistogramData | undefined;
  /** Every label of every sample: family, label name, value. */
  labels(): Array<{ family: string; name: string; value: string }>;
}

export async function scrape(c: Pick<ControlledProxy, 'api'>): Promise<Scrape> {
  const res = await c.api('/metrics');
  assert.equal(res.statusCode, 200, res.body.toString());
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return parseScrape(res.body.toString('utf8'));
}

export async function parseScrape(text: string): Promise<Scrape> {
  // prom-client writes NaN as `Nan` (an event-loop mean with no sample yet), which Prometheus
  // reads (Go's strconv.ParseFloat) but this parser's number pattern does not: those lines are
  // left out, and only the process's own metrics may have them.
  const lines = text.split('\n');
  const nan = lines.filter((l) => / Nan$/.test(l));
  for (const line of nan) assert.match(line, /^(nodejs|process)_/, `a version_proxy_* series is never NaN: ${line}`);
  const families = await getMetricsFromIterator(lines.filter((l) => !/ Nan$/.test(l))[Symbol.iterator]());
  const includes = (have: Record<string, string>, want: Record<string, string>): boolean => Object.entries(want).every(([k, v]) => have[k] === v);
  return {
    text,
    families,
    value: (name, labels = {}) => {
      const family = families[name];
      if (family === undefined) return 0;
      return (family.data as PromData[]).filter((d) => includes(d.labels, labels)).reduce((sum, d) => sum + d.value, 0);
    },
    histogram: (name, labels) => {
      const family = families[name];
      assert.equal(family?.type, 'histogram', `${name} is a histogram`);
      const keys = Object.keys(labels);
      return (family.data as PromHistogramData[]).find((d) => includes(d.labels, labels) && Object.keys(d.labels).length === keys.length);
    },
    labels: () =>
      Object.entries(families).flatMap(([family, metric]) =>
        (metric.data as Array<{ labels: Record<string, string> }>).flatMap((d) => Object.entries(d.labels).map(([name, value]) => ({ family, name, value }))),
      ),
  };
}

/**
 * The live feed's 'started' and 'finished' messages as JSON text (docs/control-api.md "Live
 * feed"), written out field by field. The text is exactly what
 * `JSON.stringify({seq, type, time, exchange: summary})` gives (test/unit/feed-json.test.ts holds
 * them equal): the generic stringify of a summary cost about 1.1-1.5 µs per event, this about a
 * third of it, and every exchange makes two events while anyone subscribes. Strings still go
 * through JSON.stringify, which owns the escaping (RFC 8259 §7).
 */
import type { Exchange } from '../core/exchange.js';
import type { Redactor } from '../record/redact.js';
import { summarize } from './exchange-summary.js';

const str = JSON.stringify;

/** What is known at the head: the request line, as the summary of an exchange not yet answered. */
export function startedJson(seq: number, x: Exchange, redactor: Redactor): string {
  const start = Math.round(x.timings.start);
  return `{"seq":${seq},"type":"started","time":${start},"exchange":{"id":${str(x.id)},"kind":"${x.kind}","method":${str(x.request.method)},"url":${str(redactor.url(x.url))},"start":${start},"verdicts":[],"rules":[],"bytes":{"request":0,"response":0}}}`;
}

/** The finished exchange's summary (exchange-summary.ts), its keys in the order summarize() sets them. */
export function finishedJson(seq: number, x: Exchange, redactor: Redactor): string {
  const s = summarize(x, redactor);
  let out = `{"seq":${seq},"type":"finished","time":${Math.round(x.timings.end ?? x.timings.start)},"exchange":{"id":${str(s.id)},"kind":"${s.kind}","method":${str(s.method)},"url":${str(s.url)},"start":${s.start},"verdicts":${s.verdicts.length === 0 ? '[]' : str(s.verdicts)},"rules":${s.rules.length === 0 ? '[]' : str(s.rules)},"bytes":{"request":${s.bytes.request},"response":${s.bytes.response}}`;
  if (s.status !== undefined) out += `,"status":${s.status}`;
  if (s.protocol !== undefined) out += `,"protocol":"${s.protocol}"`;
  if (s.operation !== undefined) out += `,"operation":${str(s.operation)}`;
  if (s.line !== undefined) out += `,"line":${str(s.line)}`;
  if (s.versions !== undefined) out += `,"versions":${str(s.versions)}`;
  if (s.duration !== undefined) out += `,"duration":${str(s.duration)}`;
  if (s.error !== undefined) out += `,"error":${str(s.error)}`;
  return `${out}}}`;
}

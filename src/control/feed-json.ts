/**
 * The live feed's 'started' and 'finished' messages as JSON text (docs/control-api.md "Live
 * feed"), written out field by field. The text is exactly what
 * `JSON.stringify({seq, type, time, exchange: summarize(x)})` gives (test/unit/feed-json.test.ts
 * holds them equal on generated records): the generic stringify of a summary cost about 1.1-1.5 µs
 * per event, this about a quarter of it, and every exchange makes two events while anyone
 * subscribes. Strings still go
 * through JSON.stringify, which owns the escaping (RFC 8259 §7).
 */
import type { Exchange } from '../core/exchange.js';
import type { Redactor } from '../record/redact.js';

const str = JSON.stringify;

/** What is known at the head: the request line, as the summary of an exchange not yet answered. */
export function startedJson(seq: number, x: Exchange, redactor: Redactor): string {
  const start = Math.round(x.timings.start);
  return `{"seq":${seq},"type":"started","time":${start},"exchange":{"id":${str(x.id)},"kind":"${x.kind}","method":${str(x.request.method)},"url":${str(redactor.url(x.url))},"start":${start},"verdicts":[],"rules":[],"bytes":{"request":0,"response":0}}}`;
}

/**
 * The finished exchange's summary (exchange-summary.ts summarize()), written from the record
 * itself, its keys in the order summarize() sets them: no summary object, and no arrays for the
 * rules applied unless some were.
 */
export function finishedJson(seq: number, x: Exchange, redactor: Redactor): string {
  const start = x.timings.start;
  const end = x.timings.end;
  const p = x.protocol;
  let out = `{"seq":${seq},"type":"finished","time":${Math.round(end ?? start)},"exchange":{"id":${str(x.id)},"kind":"${x.kind}","method":${str(x.request.method)},"url":${str(redactor.url(x.url))},"start":${Math.round(start)},"verdicts":${p === undefined || p.verdicts.length === 0 ? '[]' : str(p.verdicts)},"rules":${appliedRules(x)},"bytes":{"request":${x.bytes.request},"response":${x.bytes.response}}`;
  if (x.response !== undefined) out += `,"status":${x.response.statusCode}`;
  if (p !== undefined) {
    out += `,"protocol":"${p.protocol}"`;
    if (p.operation !== undefined) out += `,"operation":${str(p.operation)}`;
    if (p.summary !== undefined) out += `,"line":${str(p.summary)}`;
    if (p.versions !== undefined) out += `,"versions":${str(p.versions)}`;
  }
  if (end !== undefined) out += `,"duration":${str(Math.round((end - start) * 1000) / 1000)}`;
  if (x.error !== undefined) out += `,"error":${str(x.error.code)}`;
  return `${out}}}`;
}

/** The ids of the rules applied, as a JSON array. */
function appliedRules(x: Exchange): string {
  const rules = x.rules;
  if (rules === undefined) return '[]';
  let out = '';
  for (const r of rules) if (r.outcome === 'applied') out += `${out === '' ? '' : ','}${str(r.id)}`;
  return `[${out}]`;
}

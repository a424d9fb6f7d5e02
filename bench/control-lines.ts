/**
 * Issue 22's acceptance lines for the table's control rows: pass-through with the control server
 * up and one live feed subscriber (`forward-control`), and 100 runtime rules added through the
 * control API that match nothing (`forward-rules100-runtime`), each against `proxy forward` of
 * the same run (median of per-run ratios, as every row ratio). The interleaved probe measures the
 * same two ratios a second way (interleaved.ts).
 */
import type { Row } from './table.js';
import type { SubjectId } from './subjects.js';

/** Issue 22: "pass-through with the control server up and one live feed subscriber ≥ 0.95× the row without them". */
export const CONTROL_FEED_MIN_RATIO = 0.95;
/** Issue 22: "100 runtime rules, none matching ≥ 0.95× no rules". */
export const RUNTIME_RULES_MIN_RATIO = 0.95;

const yesNo = (ok: boolean): string => (ok ? 'yes' : 'no');
const grouped = (n: number | undefined): string => (n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const us = (row: Row | undefined): string => (row?.cpuUsPerRequest === undefined ? 'n/a' : `${row.cpuUsPerRequest.toFixed(0)} µs`);

/** `yes (0.97: 12,000 vs 12,400 req/s, …)`, or why there is no verdict. */
function verdict(row: Row, fwd: Row | undefined, min: number, only: string): string {
  if (row.failed !== undefined) return `no (${row.failed})`;
  if (fwd === undefined || fwd.failed !== undefined) return `n/a (needs the forward row in the same run: --only ${only})`;
  const r = row.rpsPerForward;
  if (r === undefined) return 'n/a (the load failed: see Notes)';
  const cpu = row.cpuPerForward === undefined ? '' : `, ratio ${row.cpuPerForward.toFixed(2)}`;
  return `${yesNo(r >= min)} (${r.toFixed(2)}: ${grouped(row.rps)} vs ${grouped(fwd.rps)} req/s, median of same-run ratios; CPU per request ${us(row)} vs ${us(fwd)}${cpu})`;
}

export function controlLines(rows: Map<SubjectId, Row>): string[] {
  const lines: string[] = [];
  const fwd = rows.get('forward');
  const feed = rows.get('forward-control');
  if (feed !== undefined) {
    lines.push(`Control server up + 1 live feed subscriber: req/s ≥ ${CONTROL_FEED_MIN_RATIO}× proxy forward without them: ${verdict(feed, fwd, CONTROL_FEED_MIN_RATIO, 'forward,forward-control')}`);
    if (feed.feedFinished !== undefined) {
      const sent = feed.feedSent ?? 0;
      const read = (feed.feedFinishedSmall ?? 0) >= sent && sent > 0;
      const cpu = feed.feedCpuSeconds === undefined ? '' : `; the subscriber process used ${feed.feedCpuSeconds.toFixed(1)} CPU s`;
      lines.push(
        `Feed subscriber read the load: ${yesNo(read && (feed.feedMissed ?? 0) === 0)}, ${grouped(feed.feedFinished)} finished events (${grouped(feed.feedFinishedSmall)} GET /small) and ${grouped(feed.feedStarted)} started ` +
          `for ${grouped(sent)} requests completed (warm-up and load), ${grouped(feed.feedMissed)} missed${cpu} (medians over runs)`,
      );
    }
  }
  const runtime = rows.get('forward-rules100-runtime');
  if (runtime !== undefined) {
    const file = runtime.rpsPerFileRules === undefined ? '' : `; ÷ the same 100 rules from --rules (forward-rules100) ${runtime.rpsPerFileRules.toFixed(2)}`;
    lines.push(`100 runtime rules (POST /api/rules), none matching: req/s ≥ ${RUNTIME_RULES_MIN_RATIO}× no-rule proxy forward: ${verdict(runtime, fwd, RUNTIME_RULES_MIN_RATIO, 'forward,forward-rules100-runtime')}${file}`);
    if (runtime.rulesLoaded !== undefined) {
      const none = runtime.rulesLoaded === 100 && runtime.runtimeHits === 0 && runtime.ruleExchanges === 0;
      lines.push(
        `100 runtime rules in force, none applied: ${yesNo(none)}, ${Math.round(runtime.rulesLoaded)} runtime rules listed by GET /api/rules after the load with ${grouped(runtime.runtimeHits)} hits; ` +
          `${grouped(runtime.ruleExchanges)} of ${grouped(runtime.logExchanges)} exchange log lines list a rule (medians over runs)`,
      );
    }
  }
  return lines;
}

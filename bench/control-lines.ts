/**
 * Issue 22's acceptance lines for the table's control rows, each from the median of per-run
 * ratios against a row of the same run:
 *
 * - pass-through with the control server up and one live feed subscriber (`forward-control`)
 *   against `proxy forward`, which has neither;
 * - 100 runtime rules added through the control API that match nothing
 *   (`forward-rules100-runtime`) against the same proxy with its control server up and no rules
 *   (`forward-control-idle`): the rules need the control server, whose own cost is the line's
 *   information (and, with the subscriber, the first line's subject).
 *
 * The interleaved probe measures both ratios a second way (interleaved.ts).
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
const two = (n: number | undefined): string => (n === undefined ? 'n/a' : n.toFixed(2));

/** `yes (0.97: 12,000 vs 12,400 req/s, …)`, or why there is no verdict. */
function verdict(row: Row, base: Row | undefined, r: number | undefined, cpu: number | undefined, min: number, only: string): string {
  if (row.failed !== undefined) return `no (${row.failed})`;
  if (base === undefined || base.failed !== undefined) return `n/a (needs its baseline in the same run: --only ${only})`;
  if (r === undefined) return 'n/a (the load failed: see Notes)';
  return `${yesNo(r >= min)} (${r.toFixed(2)}: ${grouped(row.rps)} vs ${grouped(base.rps)} req/s, median of same-run ratios; CPU per request ${us(row)} vs ${us(base)}, ratio ${two(cpu)})`;
}

export function controlLines(rows: Map<SubjectId, Row>): string[] {
  const lines: string[] = [];
  const fwd = rows.get('forward');
  const idle = rows.get('forward-control-idle');
  const feed = rows.get('forward-control');
  if (feed !== undefined) {
    const split = feed.failed === undefined && idle?.failed === undefined && idle?.rpsPerForward !== undefined ? `; control server alone ÷ forward ${two(idle.rpsPerForward)}, subscriber ÷ control server alone ${two(feed.rpsPerControlIdle)}` : '';
    lines.push(`Control server up + 1 live feed subscriber: req/s ≥ ${CONTROL_FEED_MIN_RATIO}× proxy forward without them: ${verdict(feed, fwd, feed.rpsPerForward, feed.cpuPerForward, CONTROL_FEED_MIN_RATIO, 'forward,forward-control')}${split}`);
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
    const info = runtime.failed === undefined ? `; ÷ proxy forward (no control server) ${two(runtime.rpsPerForward)}${runtime.rpsPerFileRules === undefined ? '' : `, ÷ the same rules from --rules (forward-rules100) ${two(runtime.rpsPerFileRules)}`}` : '';
    lines.push(
      `100 runtime rules (POST /api/rules), none matching: req/s ≥ ${RUNTIME_RULES_MIN_RATIO}× the same proxy with no rules (control server up): ` +
        `${verdict(runtime, idle, runtime.rpsPerControlIdle, runtime.cpuPerControlIdle, RUNTIME_RULES_MIN_RATIO, 'forward-control-idle,forward-rules100-runtime')}${info}`,
    );
    if (runtime.rulesLoaded !== undefined) {
      const none = runtime.rulesLoaded === 100 && runtime.runtimeHits === 0 && runtime.ruleExchanges === 0;
      lines.push(
        `100 runtime rules in force, none applied: ${yesNo(none)}, ${Math.round(runtime.rulesLoaded)} runtime rules listed by GET /api/rules after the load with ${grouped(runtime.runtimeHits)} hits; ` +
          `${grouped(runtime.ruleExchanges)} of ${grouped(runtime.logExchanges)} exchange log lines list a rule (medians over runs)`,
      );
    }
  }
  if (idle !== undefined && feed === undefined && runtime === undefined) {
    lines.push(`Control server up, unused (information): req/s ÷ proxy forward ${two(idle.rpsPerForward)}, CPU per request ${us(idle)} vs ${us(fwd)}`);
  }
  return lines;
}

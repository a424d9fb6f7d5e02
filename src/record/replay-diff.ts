/**
 * What `./proxy replay` reports (issue 6, item 5): for each re-sent request, where the new
 * answer's judgement differs from the recorded one. Compared are the facts the proxy derives,
 * not the bytes: the status, the protocol versions (client, server, negotiated, echo), the verdict
 * codes as a set (src/protocols/negotiation*.ts) and the protocol parse problems. Bodies, dates
 * and session ids differ on every run and say nothing about version negotiation.
 */
import type { Exchange } from '../core/exchange.js';

/** The parts of a record that are compared; both an ExchangeLine and a live Exchange have them. */
export type Judged = Pick<Exchange, 'response' | 'protocol' | 'error'>;

/** `echo`: the FPSE method line of a call that negotiated nothing (MS-FPSE 1.7.1), e.g. `open service`. */
export type VersionSide = 'client' | 'server' | 'negotiated' | 'echo';

export interface ValueChange<T> {
  recorded?: T;
  replayed?: T;
}

export interface SetChange {
  /** In the recording, not in the replay. */
  missing: string[];
  /** In the replay, not in the recording. */
  added: string[];
}

export interface Difference {
  /** Id of the recorded exchange. */
  id: string;
  /** Id of the new exchange, when the replay got as far as one. */
  replayedId?: string;
  method: string;
  /** Origin-form path as re-sent. */
  path: string;
  /** Protocol operation (`server version`, `Connect`), recorded or else new. */
  operation?: string;
  /** Status code (with the traffic error's code when the proxy answered for the upstream), or the error's code when there was no answer. */
  status?: ValueChange<string>;
  versions?: Partial<Record<VersionSide, ValueChange<string>>>;
  verdicts?: SetChange;
  problems?: SetChange;
}

export interface Skipped {
  id: string;
  reason: string;
}

export interface ReplayResult {
  /** Requests sent to the target. */
  sent: number;
  skipped: Skipped[];
  differences: Difference[];
  /** Header names left out because the journal holds them redacted, and `?name` for query values sent as their marker (each once). */
  withheld: string[];
  /** What the reader should know about how the replay was made (pacing, rules, journal problems). */
  notes: string[];
}

const SIDES: readonly VersionSide[] = ['client', 'server', 'negotiated', 'echo'];

/**
 * `200`; `502 ECONNREFUSED` when the proxy answered for a failed upstream; `ECONNREFUSED` when no
 * answer came at all; undefined when neither is known.
 */
function statusOf(x: Judged | undefined): string | undefined {
  if (x?.response === undefined) return x?.error?.code;
  const cause = x.response.source === 'proxy' && x.error !== undefined ? ` ${x.error.code}` : '';
  return `${x.response.statusCode}${cause}`;
}

function setChange(recorded: readonly string[], replayed: readonly string[]): SetChange | undefined {
  const before = new Set(recorded);
  const after = new Set(replayed);
  const missing = [...before].filter((v) => !after.has(v));
  const added = [...after].filter((v) => !before.has(v));
  return missing.length === 0 && added.length === 0 ? undefined : { missing, added };
}

/**
 * The difference between a recorded exchange and its replay, or undefined when they agree.
 * `replayed` is undefined when the replay produced no record at all (the request never reached
 * the proxy); that differs in status.
 */
export function compareExchanges(
  request: { id: string; method: string; path: string },
  recorded: Judged,
  replayed: (Judged & { id?: string }) | undefined,
): Difference | undefined {
  const diff: Difference = { id: request.id, method: request.method, path: request.path };
  if (replayed?.id !== undefined) diff.replayedId = replayed.id;
  const operation = recorded.protocol?.operation ?? replayed?.protocol?.operation;
  if (operation !== undefined) diff.operation = operation;
  let differs = false;

  const before = statusOf(recorded);
  const after = statusOf(replayed);
  if (before !== after) {
    diff.status = { ...(before !== undefined && { recorded: before }), ...(after !== undefined && { replayed: after }) };
    differs = true;
  }

  const versions: Partial<Record<VersionSide, ValueChange<string>>> = {};
  for (const side of SIDES) {
    const a = recorded.protocol?.versions[side];
    const b = replayed?.protocol?.versions[side];
    if (a !== b) versions[side] = { ...(a !== undefined && { recorded: a }), ...(b !== undefined && { replayed: b }) };
  }
  if (Object.keys(versions).length > 0) {
    diff.versions = versions;
    differs = true;
  }

  const verdicts = setChange(recorded.protocol?.verdicts.map((v) => v.code) ?? [], replayed?.protocol?.verdicts.map((v) => v.code) ?? []);
  if (verdicts !== undefined) {
    diff.verdicts = verdicts;
    differs = true;
  }
  const problems = setChange(recorded.protocol?.problems ?? [], replayed?.protocol?.problems ?? []);
  if (problems !== undefined) {
    diff.problems = problems;
    differs = true;
  }
  return differs ? diff : undefined;
}

const NONE = '(none)';

function change(c: ValueChange<string>): string {
  return `${c.recorded ?? NONE} → ${c.replayed ?? NONE}`;
}

function setText(c: SetChange): string {
  return [...c.missing.map((v) => `-${v}`), ...c.added.map((v) => `+${v}`)].join(' ');
}

/** One line: `x1-4 POST /_vti_bin/shtml.dll/_vti_rpc "server version": server 14.0.0.6029 → 6.0.2.5530; verdicts -accepted +echo-mismatch`. */
export function formatDifference(d: Difference): string {
  const parts: string[] = [];
  if (d.status !== undefined) parts.push(`status ${change(d.status)}`);
  for (const side of SIDES) {
    const c = d.versions?.[side];
    if (c !== undefined) parts.push(`${side} ${change(c)}`);
  }
  if (d.verdicts !== undefined) parts.push(`verdicts ${setText(d.verdicts)}`);
  if (d.problems !== undefined) parts.push(`problems ${[...d.problems.missing.map((p) => `-"${p}"`), ...d.problems.added.map((p) => `+"${p}"`)].join(' ')}`);
  const operation = d.operation === undefined ? '' : ` "${d.operation}"`;
  return `${d.id} ${d.method} ${d.path}${operation}: ${parts.join('; ')}`;
}

/**
 * The replay's report for a terminal: what was left out and why, one line per difference, and a
 * summary line last (`12 sent, 0 skipped, 2 differ`).
 */
export function formatReplay(result: ReplayResult): string {
  const lines: string[] = [...result.notes];
  if (result.withheld.length > 0) lines.push(`not replayed: ${result.withheld.join(', ')} (redacted in the journal)`);
  for (const s of result.skipped) lines.push(`skipped ${s.id}: ${s.reason}`);
  for (const d of result.differences) lines.push(formatDifference(d));
  lines.push(`${result.sent} sent, ${result.skipped.length} skipped, ${result.differences.length} differ`);
  return `${lines.join('\n')}\n`;
}

/**
 * The `interleaved` probe: the same-run ratios of issues 3, 4, 6, 8 and 22, measured with both
 * subjects of a pair up at once and one load alternating between them in short slices,
 * A B B A A B B A A B, so that whatever the machine does meanwhile falls on both alike.
 *
 * Why a second measurement of ratios the table already gives: this 2-core VM switches between a
 * fast and a slow state for seconds at a time (the floor's CPU per request has been seen at
 * 55 µs and 116 µs in back-to-back rows). The table measures each row for 10 s at its own time,
 * so a row that meets the slow state loses up to a third against one that did not, and the
 * median of three such ratios still swings by ±15% from one bench to the next. Slices of 2 s,
 * alternated, give both sides the same mix of states; the pair's ratio is their summed requests
 * over their summed durations. The subjects are started exactly as their rows start them
 * (startSubject), whose checks (MAPI/HTTP recognised, rules loaded and none applied, journal
 * complete) hold for the same configuration. The recording subject's journal is set aside after
 * its pair (scratch.ts).
 */
import { CONTROL_FEED_MIN_RATIO, RUNTIME_RULES_MIN_RATIO } from './control-lines.js';
import type { ControlChecks } from './control.js';
import { cpuSeconds } from './cpu.js';
import { loadOptions, type BenchConfig } from './measure.js';
import { MAPI_OBSERVER_MIN_RATIO, median, RECORD_MIN_RATIO, RULES_MIN_RATIO } from './table.js';
import { setAsideRecordJournal } from './record-row.js';
import { startSubject, subjects, type Context, type Running, type Subject, type SubjectId } from './subjects.js';
import { runWrk, type WrkResult } from './wrk.js';

export interface Pair {
  subject: SubjectId;
  baseline: SubjectId;
  /** The acceptance bound on subject ÷ baseline req/s, and where it comes from. */
  min: number;
  issue: string;
}

/**
 * Issue 8's forward ÷ floor, 6's recording on ÷ off, 3's MAPI observed ÷ unobserved, 4's rules,
 * 22's control server with a feed subscriber and its runtime rules.
 * The recording and observer bounds are the ones issue 24 restated from this machine's
 * measurements, judged on the median of this probe's runs.
 */
export const PAIRS: readonly Pair[] = [
  { subject: 'forward', baseline: 'floor', min: 0.9, issue: 'issue 8' },
  { subject: 'forward-record', baseline: 'forward', min: RECORD_MIN_RATIO, issue: 'issue 6 as restated' },
  { subject: 'forward-mapi', baseline: 'forward-mapi-plain', min: MAPI_OBSERVER_MIN_RATIO, issue: 'issue 3 as restated' },
  { subject: 'forward-rules100', baseline: 'forward', min: RULES_MIN_RATIO, issue: 'issue 4' },
  // Issue 22: the control server up with one live feed subscriber, against neither; 100 runtime
  // rules, none matching, against the same proxy with no rules (its control server up, unused).
  { subject: 'forward-control', baseline: 'forward', min: CONTROL_FEED_MIN_RATIO, issue: 'issue 22' },
  { subject: 'forward-rules100-runtime', baseline: 'forward-control-idle', min: RUNTIME_RULES_MIN_RATIO, issue: 'issue 22' },
];

/**
 * The pairs to measure: when `--only` names both subjects of some pairs, those (so that
 * `--only forward,forward-control,interleaved` measures one pair, not all six); otherwise all.
 */
export function selectedPairs(only: readonly string[]): readonly Pair[] {
  const named = PAIRS.filter((p) => only.includes(p.subject) && only.includes(p.baseline));
  return named.length > 0 ? named : PAIRS;
}

const SLICE_SECONDS = 2;
/** A B B A A B B A A B: five slices a side, 10 s each, as long as a row's load. */
const PATTERN = [0, 1, 1, 0, 0, 1, 1, 0, 0, 1] as const;

export interface Side {
  requests: number;
  seconds: number;
  /** CPU seconds of the subject's process over its slices (absent for a subject without one). */
  cpu?: number;
  /** p50 latency of each slice, µs. */
  p50Us: number[];
}

export interface PairRun {
  subject: SubjectId;
  baseline: SubjectId;
  error?: string;
  a?: Side;
  b?: Side;
}

export interface InterleavedRun {
  probe: 'interleaved';
  run: number;
  /** Never set: a pair that fails says so in its own entry (and in `notes`); the others still count. */
  error?: string;
  notes: string[];
  pairs: PairRun[];
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function measureInterleaved(ctx: Context, cfg: BenchConfig, run: number, log: (line: string) => void): Promise<InterleavedRun> {
  const all = new Map(subjects().map((s) => [s.id, s]));
  const pairs: PairRun[] = [];
  for (const pair of selectedPairs(cfg.only)) {
    const a = all.get(pair.subject)!;
    const b = all.get(pair.baseline)!;
    const result: PairRun = { subject: pair.subject, baseline: pair.baseline };
    try {
      const sides = await measurePair(a, b, ctx, cfg);
      result.a = sides[0];
      result.b = sides[1];
      const ratio = rate(sides[0]) / rate(sides[1]);
      log(`  ${a.label} ÷ ${b.label}: ${ratio.toFixed(2)} (${Math.round(rate(sides[0]))} vs ${Math.round(rate(sides[1]))} req/s over ${PATTERN.length / 2} slices of ${SLICE_SECONDS} s a side)`);
    } catch (err) {
      result.error = message(err);
      log(`  ${a.label} ÷ ${b.label}: failed: ${result.error}`);
    } finally {
      // The recording subject's journal (a 10 s load writes ~100 MB), deleted when the bench ends.
      if (pair.subject === 'forward-record' || pair.baseline === 'forward-record') setAsideRecordJournal(ctx.workDir);
    }
    pairs.push(result);
  }
  const notes = pairs.filter((p) => p.error !== undefined).map((p) => `${p.subject} ÷ ${p.baseline}: ${p.error!}`);
  return { probe: 'interleaved', run, notes, pairs };
}

const rate = (side: Side): number => side.requests / side.seconds;

async function measurePair(a: Subject, b: Subject, ctx: Context, cfg: BenchConfig): Promise<[Side, Side]> {
  if (a.unavailable !== undefined || b.unavailable !== undefined) throw new Error(a.unavailable ?? b.unavailable);
  const running: Running[] = [];
  try {
    running.push(await startSubject(a, ctx));
    running.push(await startSubject(b, ctx));
    const options = [a, b].map((s, i) => loadOptions(s, running[i]!.port, ctx, cfg, ctx.wrk ?? 'wrk'));
    const load = (i: number, seconds: number): Promise<WrkResult> => runWrk({ ...options[i]!, seconds });
    // Warm-up, both: JIT, pools and buffers settle before anything is counted.
    await load(0, cfg.warmupSeconds);
    await load(1, cfg.warmupSeconds);
    const sides: [Side, Side] = [
      { requests: 0, seconds: 0, p50Us: [] },
      { requests: 0, seconds: 0, p50Us: [] },
    ];
    const slice = cfg.quick ? 1 : SLICE_SECONDS;
    for (const i of PATTERN) {
      const pid = running[i]!.pid;
      const before = pid === undefined ? undefined : cpuSeconds(pid);
      const r = await load(i, slice);
      const after = pid === undefined ? undefined : cpuSeconds(pid);
      const side = sides[i];
      side.requests += r.requests;
      side.seconds += r.durationUs / 1e6;
      side.p50Us.push(r.p50Us);
      if (before !== undefined && after !== undefined) side.cpu = (side.cpu ?? 0) + (after - before);
    }
    // Issue 22's subjects hold only if their feed subscriber read the load, or their runtime rules
    // were all in force and none applied (the rows check the same, in more detail: measure.ts).
    for (const [i, r] of running.entries()) {
      const problem = r.controlChecks === undefined ? undefined : controlProblem(await r.controlChecks());
      if (problem !== undefined) throw new Error(`${[a, b][i]!.label}: ${problem}`);
    }
    return sides;
  } finally {
    for (const r of running) await r.stop();
  }
}

function controlProblem(checks: ControlChecks): string | undefined {
  if (checks.feedError !== undefined) return `no live feed subscriber (${checks.feedError})`;
  if (checks.feed !== undefined && checks.feed.finished === 0) return 'the feed subscriber read no finished event';
  if (checks.rulesError !== undefined) return `GET /api/rules failed (${checks.rulesError})`;
  if (checks.rules !== undefined && (checks.rules.hits > 0 || checks.rules.runtime !== checks.rules.total)) return `GET /api/rules: ${checks.rules.runtime} runtime rules of ${checks.rules.total}, ${checks.rules.hits} hit(s)`;
  return undefined;
}

const yesNo = (ok: boolean): string => (ok ? 'yes' : 'no');

/** One acceptance line per pair: the median over runs of the per-run ratios, each run's ratio, and CPU per request. */
export function interleavedLines(runs: InterleavedRun[]): string[] {
  const labels = new Map(subjects().map((s) => [s.id, s.label]));
  const lines: string[] = [];
  const ran = PAIRS.filter((pair) => runs.some((r) => r.pairs.some((p) => p.subject === pair.subject && p.baseline === pair.baseline)));
  for (const pair of ran.length > 0 ? ran : PAIRS) {
    const measured = runs.flatMap((r) => r.pairs.filter((p) => p.subject === pair.subject && p.baseline === pair.baseline));
    const ok = measured.filter((p): p is PairRun & { a: Side; b: Side } => p.a !== undefined && p.b !== undefined);
    const head = `${labels.get(pair.subject)} ÷ ${labels.get(pair.baseline)} req/s, interleaved (${pair.issue}, target ≥ ${pair.min})`;
    if (ok.length === 0) {
      const error = measured.find((p) => p.error !== undefined)?.error;
      lines.push(`${head}: n/a${error === undefined ? '' : ` (${error})`}`);
      continue;
    }
    const ratios = ok.map((p) => rate(p.a) / rate(p.b));
    const m = median(ratios)!;
    const cpu = (s: Side): number | undefined => (s.cpu === undefined ? undefined : (s.cpu / s.requests) * 1e6);
    const us = (values: Array<number | undefined>): string => {
      const v = median(values.filter((x): x is number => x !== undefined));
      return v === undefined ? 'n/a' : `${v.toFixed(0)} µs`;
    };
    const p50 = median(ok.map((p) => median(p.a.p50Us)! / median(p.b.p50Us)!));
    lines.push(
      `${head}: ${yesNo(m >= pair.min)} (${m.toFixed(2)}; runs ${ratios.map((r) => r.toFixed(2)).join(', ')}; ` +
        `CPU per request ${us(ok.map((p) => cpu(p.a)))} vs ${us(ok.map((p) => cpu(p.b)))}; p50 ratio ${p50 === undefined ? 'n/a' : p50.toFixed(2)}` +
        `${ok.length < measured.length ? `; ${ok.length} of ${measured.length} runs counted` : ''})`,
    );
  }
  return lines;
}

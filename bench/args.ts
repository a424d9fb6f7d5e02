/**
 * The harness's command line: `--runs N`, `--quick`, `--only a,b`, `--help`. Everything else
 * (connections, durations, sizes) is fixed so that runs stay comparable.
 */
import { parseArgs } from 'node:util';
import type { BenchConfig } from './measure.js';
import { PROBE_IDS, type ProbeId } from './probes.js';
import { SUBJECT_IDS, type SubjectId } from './subjects.js';

/** Everything --only can name: the table's subjects, then the probes of issues 4, 5 and 6. */
export const BENCH_IDS: ReadonlyArray<SubjectId | ProbeId> = [...SUBJECT_IDS, ...PROBE_IDS];

export const USAGE = `usage: npm run bench -- [--quick] [--runs N] [--only ${BENCH_IDS.join(',')},soak] [--soak-minutes M]

  --runs N    runs per subject; every number is the median over runs (default 3; --quick: 1)
  --quick     for development: 2 s per load, 64 MiB streams, 1 run; short probes
  --only a,b  only these subjects (ratios need their baselines: direct, floor, relay;
              forward-mapi is compared with forward-mapi-plain and forward,
              forward-rules100 with forward); fpse-rewrite and mapi-stream are the
              rule probes of issue 4, each with its own no-rule baseline;
              forward-https (HTTPS, with its own plain-HTTP baseline, same client) is
              compared with mitmdump-https, and https-new-host and https-hosts-rss are
              the new-host probes of issue 5; forward-record (recording on) is
              compared with forward, and har-100k times ./proxy har on a
              100,000-exchange journal (issue 6); forward-control (the control
              server up, one live feed subscriber) is compared with forward,
              forward-rules100-runtime (100 rules added through POST /api/rules)
              with forward-control-idle (the control server up, unused), and
              scope-roundtrip times POST + DELETE /api/scopes (issue 22);
              ui-feed opens the web UI in headless Chromium under a paced
              ~1,000 exchanges/s for 30 s (--quick: 5 s) and compares the
              proxy's CPU per request with the same load and no page (issue 23);
              interleaved runs the pairs whose both subjects are named (all
              when none are); soak is the recording soak
              of issue 21 (bench/soak.ts), run once after everything else
  --soak-minutes M
              how long the soak runs (default 10; --quick: 1; env BENCH_SOAK_MINUTES);
              0 skips it. A full run includes it; with --only, only when soak is named

Prints progress on stderr, one markdown table and the acceptance lines on stdout, and writes
the table and every raw number to .bench/last.json.`;

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export class UsageError extends Error {}

export function parseBenchArgs(argv: string[]): BenchConfig | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        'soak-minutes': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const quick = values.quick;

  let runs = quick ? 1 : 3;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a whole number ≥ 1 (got "${values.runs}")`);
  }

  let only: Array<SubjectId | ProbeId> = [...BENCH_IDS];
  let soak = true;
  if (values.only !== undefined) {
    const named = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    soak = named.includes('soak');
    const names = named.filter((n) => n !== 'soak');
    const unknown = names.filter((n) => !(BENCH_IDS as readonly string[]).includes(n));
    if (unknown.length > 0 || (names.length === 0 && !soak)) {
      throw new UsageError(`--only takes subjects from ${BENCH_IDS.join(', ')} (got "${values.only}")`);
    }
    // Table order stays the canonical one whatever order was typed.
    only = BENCH_IDS.filter((id) => names.includes(id));
  }

  const soakText = values['soak-minutes'] ?? process.env.BENCH_SOAK_MINUTES;
  let soakMinutes = quick ? 1 : 10;
  if (soakText !== undefined) {
    soakMinutes = Number(soakText);
    if (!Number.isFinite(soakMinutes) || soakMinutes < 0) throw new UsageError(`--soak-minutes must be a number of minutes ≥ 0 (got "${soakText}")`);
  }

  return {
    soakMinutes: soak ? soakMinutes : 0,
    runs,
    quick,
    only,
    loadSeconds: quick ? 2 : 10,
    warmupSeconds: quick ? 1 : 2,
    streamBytes: quick ? 64 * MiB : GiB,
    connections: 50,
    // Two cores: one wrk thread per core; wrk mostly waits on the subject anyway.
    threads: 2,
    // Issue 4 probes: about 1 ms a request, so ~10 s for both sides (--quick: ~1 s).
    fpseRequests: quick ? 300 : 2000,
    fpseWarmup: quick ? 50 : 200,
    // Each long poll is two PENDING periods; three series (direct, no rule, rule): ~18 s (--quick: ~5 s).
    mapiPolls: quick ? 3 : 12,
    mapiPendingMs: 250,
    // Issue 5: the acceptance's host counts, even with --quick (a host costs milliseconds); the
    // untimed warm-up hosts are fewer.
    newHosts: 200,
    rssHosts: 1000,
    hostsWarmup: quick ? 3 : 10,
    rssConcurrency: 8,
    // Issue 22: sequential control API calls of ~1-2 ms each, two proxies: ~3 s (--quick: < 1 s).
    scopePairs: quick ? 100 : 500,
    scopeWarmup: quick ? 20 : 50,
  };
}

export function bytesLabel(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  return `${bytes} B`;
}

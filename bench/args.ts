/**
 * The harness's command line: `--runs N`, `--quick`, `--only a,b`, `--help`. Everything else
 * (connections, durations, sizes) is fixed so that runs stay comparable.
 */
import { parseArgs } from 'node:util';
import type { BenchConfig } from './measure.js';
import { SUBJECT_IDS, type SubjectId } from './subjects.js';

export const USAGE = `usage: npm run bench -- [--quick] [--runs N] [--only ${SUBJECT_IDS.join(',')}]

  --runs N    runs per subject; every number is the median over runs (default 3; --quick: 1)
  --quick     for development: 2 s per load, 64 MiB streams, 1 run
  --only a,b  only these subjects (ratios need their baselines: direct, floor, relay;
              forward-mapi is compared with forward-mapi-plain and forward)

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

  let only: SubjectId[] = [...SUBJECT_IDS];
  if (values.only !== undefined) {
    const names = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((n) => !(SUBJECT_IDS as readonly string[]).includes(n));
    if (unknown.length > 0 || names.length === 0) {
      throw new UsageError(`--only takes subjects from ${SUBJECT_IDS.join(', ')} (got "${values.only}")`);
    }
    // Table order stays the canonical one whatever order was typed.
    only = SUBJECT_IDS.filter((id) => names.includes(id));
  }

  return {
    runs,
    quick,
    only,
    loadSeconds: quick ? 2 : 10,
    warmupSeconds: quick ? 1 : 2,
    streamBytes: quick ? 64 * MiB : GiB,
    connections: 50,
    // Two cores: one wrk thread per core; wrk mostly waits on the subject anyway.
    threads: 2,
  };
}

export function bytesLabel(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  return `${bytes} B`;
}

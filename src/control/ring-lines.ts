/**
 * The control server's ring of recent exchanges as a source of journal lines, for the exports
 * (export-routes.ts): the HAR and the report are made by the same builders as `./proxy har` and
 * `./proxy report` (record/har-write.ts harDocument, record/report.ts reportOf), fed from here
 * instead of from the journal reader.
 *
 * The ring can hold 100,000 records with their bodies, so nothing here works through it in one
 * go: the selection and the conversion give the event loop a turn every SLICE_MS (the proxy's
 * traffic goes on meanwhile), and stop at the next turn once `signal` is aborted (the client went
 * away). Only the ring's public reads are used (`recent`, `size`, `capacity`): the records it
 * returns are a snapshot, so traffic that arrives during an export is not in it.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Exchange } from '../core/exchange.js';
import type { Filter } from '../core/filter.js';
import { TOOL } from '../core/tool.js';
import { exchangeLine, type ExchangeLine, type RunLine } from '../record/entry.js';
import type { ReadLine } from '../record/journal-read.js';
import type { Redactor } from '../record/redact.js';
import { withoutCaptures, type ExchangeRing } from './exchange-ring.js';

/** Longest stretch of work between two turns of the event loop. */
export const SLICE_MS = 5;

/** What a ring export is made of. */
export interface RingSource {
  ring: Pick<ExchangeRing, 'recent' | 'size' | 'capacity'>;
  redactor: Redactor;
  signal: AbortSignal;
  /** The work between two turns, SLICE_MS unless given (0 in tests: a turn after every record). */
  sliceMs?: number;
}

/** Hands the event loop a turn once SLICE_MS have gone by; throws once the export is abandoned. */
class Slicer {
  private since = performance.now();
  private readonly signal: AbortSignal;
  private readonly sliceMs: number;

  constructor(source: RingSource) {
    this.signal = source.signal;
    this.sliceMs = source.sliceMs ?? SLICE_MS;
    this.signal.throwIfAborted();
  }

  async tick(): Promise<void> {
    if (performance.now() - this.since < this.sliceMs) return;
    await nextTurn();
    this.signal.throwIfAborted();
    this.since = performance.now();
  }
}

/**
 * The ring's exchanges `filter` holds for (tested on the records as held, as GET /api/exchanges
 * tests them), at most `limit` of them, the most recent ones; oldest first.
 */
export async function selectFromRing(source: RingSource, filter: Filter | undefined, limit: number = Number.POSITIVE_INFINITY): Promise<Exchange[]> {
  const slicer = new Slicer(source);
  // Newest first, unfiltered: one pointer copy, cheap even for a full ring; the filter is run in
  // slices below, where a slow one cannot hold the event loop.
  const newest = source.ring.recent(source.ring.size);
  if (filter === undefined || filter.terms.length === 0) return newest.slice(0, limit).reverse();
  const kept: Exchange[] = [];
  for (let i = 0; i < newest.length && kept.length < limit; i++) {
    if (filter.test(newest[i]!)) kept.push(newest[i]!);
    if ((i & 63) === 63) await slicer.tick();
  }
  return kept.reverse();
}

/**
 * Each exchange as its journal line, redacted as the journal redacts it, in the order given.
 * `bodies: false` leaves the bodies and WebSocket messages out (the report reads neither, and
 * encoding them is most of the work).
 */
export async function* ringLines(source: RingSource, exchanges: readonly Exchange[], options: { bodies: boolean }): AsyncGenerator<ExchangeLine> {
  const slicer = new Slicer(source);
  for (const x of exchanges) {
    yield exchangeLine(source.redactor.exchange(options.bodies ? x : withoutCaptures(x)));
    await slicer.tick();
  }
}

/**
 * The ring's exchanges as the lines the report builder reads (record/report.ts reportOf): first a
 * run line for this run, so the report says how it was recorded and redacted, then each exchange,
 * oldest first. The report's filter is applied by the builder, which counts what it left out.
 */
export async function* ringReportLines(source: RingSource, run: { mode: 'forward' | 'reverse'; seed: number; startedAt: number }): AsyncGenerator<ReadLine> {
  const file = 'control ring';
  const runLine: RunLine = {
    v: 1,
    type: 'run',
    time: run.startedAt,
    tool: TOOL.version,
    mode: run.mode,
    seed: run.seed,
    captureBytes: 0,
    redaction: { enabled: source.redactor.enabled, extraHeaders: [...(source.redactor.extraHeaders ?? [])] },
    part: 1,
  };
  yield { file, line: 0, entry: runLine };
  const exchanges = await selectFromRing(source, undefined);
  let line = 0;
  for await (const entry of ringLines(source, exchanges, { bodies: false })) yield { file, line: (line += 1), entry };
}

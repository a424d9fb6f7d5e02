/**
 * Timing of streamed pieces (issue 8, "Streaming"): when did the receiver have all of each
 * piece the sender wrote? Shared by the streaming tests with and without protocol observers.
 */
import assert from 'node:assert/strict';
import type { TimedChunk } from './client.js';

/** The spec's bound for relaying a piece; loopback takes about 1 ms. */
export const RELAY_BOUND_MS = 100;

/** A piece the upstream wrote, and when. */
export interface Write {
  at: number;
  bytes: Buffer;
}

/**
 * For each written piece, when the receiver had all of it: the first chunk at which the
 * cumulative count of received bytes covers the end of that piece.
 */
export function arrivalTimes(writes: Write[], chunks: TimedChunk[]): Array<number | undefined> {
  const times: Array<number | undefined> = [];
  let end = 0;
  for (const write of writes) {
    end += write.bytes.length;
    let received = 0;
    const chunk = chunks.find((c) => (received += c.data.length) >= end);
    times.push(chunk?.at);
  }
  return times;
}

/** Asserts that each written piece reached the receiver within RELAY_BOUND_MS; returns the arrival times. */
export function assertEachPieceWithinBound(writes: Write[], chunks: TimedChunk[], who: string): Array<number | undefined> {
  const arrivals = arrivalTimes(writes, chunks);
  writes.forEach((write, i) => {
    const at = arrivals[i];
    const piece = JSON.stringify(write.bytes.subarray(0, 12).toString('latin1'));
    assert.ok(at !== undefined, `${who}: piece ${i} (${piece}) never arrived`);
    const latency = at - write.at;
    assert.ok(
      latency < RELAY_BOUND_MS,
      `${who}: piece ${i} (${piece}) arrived ${latency.toFixed(1)} ms after it was written (bound ${RELAY_BOUND_MS} ms); ` +
        `pieces arrived at +${arrivals.map((a) => (a === undefined ? '∞' : (a - writes[0]!.at).toFixed(0))).join(', +')} ms`,
    );
  });
  return arrivals;
}

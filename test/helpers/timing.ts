/**
 * Timing of streamed pieces (issue 8, "Streaming"): when did the receiver have all of each
 * piece the sender wrote? Shared by the streaming tests with and without protocol observers.
 */
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

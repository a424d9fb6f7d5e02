/**
 * The two places the proxy holds body bytes instead of streaming them, both on a declared need
 * and both capped (docs/running.md "Streaming"; STYLE.md habit 6):
 *
 *   request   the first line of an FPSE form body, which carries the method and the client
 *             version (MS-FPSE 2.2.2), when an undecided rule reads it
 *   response  an FPSE packet (small HTML), when a rule reads or rewrites the server version
 *
 * Over the cap, what was held goes on unchanged and the rest streams; the caller records the
 * rules that could not run.
 */
import type { Readable } from 'node:stream';

const LF = 0x0a;

export interface Held {
  /** Every byte read so far (the first line, its LF and whatever came in the same chunks). */
  bytes: Buffer;
  /** The body ended within what was read. */
  ended: boolean;
  /** Length of the first line without its LF; undefined when no whole line was seen. */
  lineLength?: number;
}

/**
 * Reads `body` until its first LF, its end or `cap` bytes, then pauses it and calls `done` once.
 * Nothing is lost: the stream resumes where it stopped when the caller pipes it on.
 */
export function holdFirstLine(body: Readable, cap: number, done: (held: Held) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let called = false;
  const finish = (ended: boolean): void => {
    if (called) return;
    called = true;
    body.off('data', onData);
    body.off('end', onEnd);
    body.pause();
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const lf = bytes.indexOf(LF);
    // A body without any LF is a one-line body when it ended within the cap (most FPSE methods).
    const lineLength = lf >= 0 ? lf : ended && size <= cap ? bytes.length : undefined;
    done({ bytes, ended, ...(lineLength !== undefined && { lineLength }) });
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (chunk.includes(LF) || size >= cap) finish(false);
  };
  const onEnd = (): void => finish(true);
  if (body.readableEnded) return finish(true);
  body.on('data', onData);
  body.once('end', onEnd);
  body.resume();
}

export interface Collected {
  bytes: Buffer;
  /** True when the whole body is in `bytes`; false when the cap was reached first. */
  complete: boolean;
}

/**
 * Collects `body` whole when it fits in `cap`; otherwise stops at the cap, pauses, and reports
 * what it has so the caller can pass it on and stream the rest.
 */
export function collectBody(body: Readable, cap: number, done: (collected: Collected) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let called = false;
  const finish = (complete: boolean): void => {
    if (called) return;
    called = true;
    body.off('data', onData);
    body.off('end', onEnd);
    if (!complete) body.pause();
    done({ bytes: Buffer.concat(chunks), complete });
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > cap) finish(false);
  };
  const onEnd = (): void => finish(true);
  body.on('data', onData);
  body.once('end', onEnd);
}

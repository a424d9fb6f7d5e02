/**
 * The journal's line format, version 1 (docs/recordings.md "Redaction"): one JSON object per line,
 * each with `v` (the format version) and `type`. Readers skip types they do not know, so later
 * versions can add line types without breaking older tools.
 *
 *   run       first line of every journal file: who wrote it and with which settings
 *   exchange  one finished exchange: the Exchange record, redacted, bodies encoded
 *   dropped   the writer could not keep up and dropped exchanges (never silently)
 *
 * Bodies are text when they are valid UTF-8, base64 otherwise; `size` is the real size and
 * `truncated` says the capture stopped short of it. Timings are epoch milliseconds written to
 * the microsecond (three decimals).
 */
import { isUtf8 } from 'node:buffer';
import type { CapturedBody, Exchange, WebSocketMessage, WebSocketRecord } from '../core/exchange.js';

export const JOURNAL_VERSION = 1;

export interface JournalBody {
  size: number;
  encoding: 'utf8' | 'base64';
  data: string;
  truncated?: true;
}

export interface RunLine {
  v: 1;
  type: 'run';
  /** Epoch milliseconds the file was opened. */
  time: number;
  /** version-proxy's package version. */
  tool: string;
  mode: 'forward' | 'reverse';
  /** The --target origin in reverse mode. */
  target?: string;
  /** The seed of the run's `chance` decisions, when rules are loaded. */
  seed?: number;
  /** --capture-bytes: body bytes kept per direction. */
  captureBytes: number;
  /** Whether secrets were redacted, and which headers (and query parameters, when any) beyond the defaults. */
  redaction: { enabled: boolean; extraHeaders: string[]; extraParams?: string[] };
  /** 1 for the first file of a run, then 2, 3, … as the journal rotates. */
  part: number;
}

export interface JournalWebSocketMessage extends Omit<WebSocketMessage, 'data' | 'truncated'> {
  encoding: 'utf8' | 'base64';
  data: string;
  truncated?: true;
}

export interface JournalWebSocket extends Omit<WebSocketRecord, 'messages'> {
  messages: JournalWebSocketMessage[];
}

/** An Exchange record as written: redacted, with bodies and WebSocket payloads encoded. */
export interface ExchangeLine extends Omit<Exchange, 'bodies' | 'websocket'> {
  v: 1;
  type: 'exchange';
  bodies?: { request?: JournalBody; response?: JournalBody };
  websocket?: JournalWebSocket;
}

export interface DroppedLine {
  v: 1;
  type: 'dropped';
  time: number;
  /** Exchanges not written. */
  count: number;
  reason: string;
}

/**
 * The recording changed what it keeps (recording-guard.ts): `no-bodies` while the disk is short of
 * --record-min-free, `off` below half of it, `full` again after. The line that ends a state counts
 * what that state left out.
 */
export interface CaptureLine {
  v: 1;
  type: 'capture';
  time: number;
  state: 'full' | 'no-bodies' | 'off';
  reason: string;
  freeBytes?: number;
  /** Exchanges written without their bodies during the state this line ends. */
  bodiesLeftOut?: number;
  /** Exchanges not written at all during the state this line ends. */
  exchangesLeftOut?: number;
}

export type JournalLine = RunLine | ExchangeLine | DroppedLine | CaptureLine;

/**
 * Text when the bytes are readable UTF-8 (so a reader sees them as they were), base64 otherwise.
 * Control characters other than TAB, LF and CR count as binary: JSON spells each as `\u0000`
 * (six bytes), so a body of zeros would take four times its base64 size.
 */
export function encodeBytes(bytes: Buffer): { encoding: 'utf8' | 'base64'; data: string } {
  if (isUtf8(bytes)) {
    const text = bytes.toString('utf8');
    if (!CONTROL.test(text)) return { encoding: 'utf8', data: text };
  }
  return { encoding: 'base64', data: bytes.toString('base64') };
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/** The bytes back from an encoded body or message. */
export function decodeBytes(encoded: { encoding: 'utf8' | 'base64'; data: string }): Buffer {
  return Buffer.from(encoded.data, encoded.encoding === 'base64' ? 'base64' : 'utf8');
}

export function encodeBody(body: CapturedBody): JournalBody {
  return { size: body.size, ...encodeBytes(body.bytes), ...(body.truncated && { truncated: true as const }) };
}

export function encodeWebSocket(ws: WebSocketRecord): JournalWebSocket {
  return {
    counts: ws.counts,
    dropped: ws.dropped,
    problems: ws.problems,
    messages: ws.messages.map(({ data, truncated, ...rest }) => ({ ...rest, ...encodeBytes(data), ...(truncated === true && { truncated: true as const }) })),
  };
}

/**
 * The journal line of an exchange. `exchange` should already be redacted (src/record/redact.ts):
 * this only encodes.
 */
export function exchangeLine(exchange: Exchange): ExchangeLine {
  const { bodies, websocket, ...rest } = exchange;
  const line: ExchangeLine = { v: JOURNAL_VERSION, type: 'exchange', ...rest };
  if (bodies !== undefined) {
    line.bodies = {};
    if (bodies.request !== undefined) line.bodies.request = encodeBody(bodies.request);
    if (bodies.response !== undefined) line.bodies.response = encodeBody(bodies.response);
  }
  if (websocket !== undefined) line.websocket = encodeWebSocket(websocket);
  return line;
}

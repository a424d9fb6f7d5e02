/**
 * WebSocket frames (RFC 6455 §5.2–§5.5) read as they pass through the proxy, onto the record of
 * an upgrade (`exchange.websocket`). The proxy never waits for this reader: it sees copies of the
 * chunks already relayed, and nothing it finds changes a byte of the traffic.
 *
 *   0                   1                   2                   3
 *   |F|R|R|R| opcode|M| len (7) |  extended len (16 or 64)  | masking key (0 or 32) | payload
 *
 * Chunk boundaries carry no meaning, so the record is the same for every split of the same bytes:
 * a frame head (at most 14 bytes) is gathered byte by byte before it is read. Bounded state: the
 * head, a few counters, and payload bytes only up to the capture limit of the direction.
 *
 * Messages: data frames (1 text, 2 binary) with their continuations (0) up to FIN are one message
 * (§5.4); control frames (8 close, 9 ping, 10 pong, §5.5) are messages of their own, also between
 * the fragments of a data message. Under permessage-deflate, RSV1 on a message's first frame says
 * it is compressed (RFC 7692 §6); the data is kept as it came, not inflated.
 */
import { now, type WebSocketMessage, type WebSocketRecord } from '../core/exchange.js';

export type Side = WebSocketMessage['from'];

/** Messages kept per connection, both ways together: a chatty socket cannot grow the record without bound. */
export const MAX_MESSAGES = 10_000;

export interface WebSocketCaptureOptions {
  /** Payload bytes kept per direction for the whole connection (messages beyond are counted, not kept). */
  captureBytes: number;
  /** The 101 negotiated permessage-deflate (RFC 7692 §5): RSV1 then marks a compressed message. */
  perMessageDeflate?: boolean;
  maxMessages?: number;
  /** Epoch milliseconds; the record's clock unless a test gives its own. */
  clock?: () => number;
}

/** What the two readers of one connection share: the record, the budgets, the clock. */
interface Shared {
  record: WebSocketRecord;
  budget: Record<Side, number>;
  slots: number;
  perMessageDeflate: boolean;
  clock: () => number;
}

/** A message being read: its frames so far, and the bytes kept of them. */
interface Pending {
  opcode: number;
  compressed: boolean;
  size: number;
  kept: boolean;
  chunks: Buffer[];
  keptBytes: number;
}

const OP_CONTINUATION = 0;
const OP_TEXT = 1;
const OP_BINARY = 2;
const OP_CLOSE = 8;
const OP_PONG = 10;
/** §5.5: control frames carry at most 125 payload bytes and are never fragmented. */
const MAX_CONTROL_PAYLOAD = 125;
const MAX_HEAD = 14;

/**
 * The reader of one direction. `push` takes each chunk as it passed; after a malformed frame the
 * reader records one problem and reads no more of this direction (the bytes still flow).
 */
export class WebSocketFrameReader {
  private readonly head = Buffer.alloc(MAX_HEAD);
  private headLength = 0;
  /** Bytes of head this frame needs: 2 until the second byte says more. */
  private headNeed = 2;
  private stopped = false;
  /** Offset of the current frame's first byte in this direction's stream. */
  private frameStart = 0;
  private offset = 0;

  // The frame whose payload is passing (after its head was read).
  private inPayload = false;
  private fin = false;
  private masked = false;
  private readonly mask = Buffer.alloc(4);
  private payloadLeft = 0;
  private payloadRead = 0;
  private target: Pending | undefined;

  /** A fragmented data message between its first frame and its FIN. */
  private data: Pending | undefined;

  constructor(
    readonly from: Side,
    private readonly shared: Shared,
  ) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    try {
      this.read(chunk);
    } catch (err) {
      // A fault of this reader must not reach the relay that called it: the bytes flow on.
      this.problem(`the reader failed (${(err as Error).message})`);
    }
  }

  private read(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.stopped) {
      if (this.inPayload) {
        const n = Math.min(this.payloadLeft, chunk.length - at);
        this.payload(chunk.subarray(at, at + n));
        at += n;
        this.offset += n;
        if (this.payloadLeft === 0) this.endFrame();
        continue;
      }
      this.head[this.headLength++] = chunk[at++]!;
      this.offset += 1;
      if (this.headLength === 2) this.headNeed = 2 + extendedLengthBytes(this.head[1]!) + (this.head[1]! & 0x80 ? 4 : 0);
      if (this.headLength === this.headNeed) this.startFrame();
    }
  }

  /** The connection ended: a frame or a fragmented message cut short is a problem, not a message. */
  end(): void {
    if (this.stopped) return;
    const cut = this.inPayload ? `${this.payloadRead} of ${this.payloadRead + this.payloadLeft} payload bytes` : `${this.headLength} head bytes`;
    if (this.inPayload || this.headLength > 0) this.problem(`the connection ended inside a frame (${cut})`, '');
    else if (this.data !== undefined) this.problem('the connection ended inside a fragmented message (no frame with FIN)', '');
    this.stopped = true;
  }

  private startFrame(): void {
    const b0 = this.head[0]!;
    const b1 = this.head[1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const length = this.payloadLength(b1 & 0x7f);
    const headLength = this.headLength;
    this.headLength = 0;
    this.headNeed = 2;
    if (length === undefined) return;
    const control = opcode >= OP_CLOSE;
    // §5.2: opcodes 3–7 and 11–15 are reserved for frames nobody has defined.
    if ((opcode > OP_BINARY && opcode < OP_CLOSE) || opcode > OP_PONG) return this.problem(`reserved opcode ${opcode}`);
    if (control && !fin) return this.problem(`control frame (opcode ${opcode}) without FIN: control frames are never fragmented (RFC 6455 §5.5)`);
    if (control && length > MAX_CONTROL_PAYLOAD) return this.problem(`control frame (opcode ${opcode}) of ${length} bytes: at most ${MAX_CONTROL_PAYLOAD} (RFC 6455 §5.5)`);
    if (opcode === OP_CONTINUATION && this.data === undefined) return this.problem('continuation frame with no message started (RFC 6455 §5.4)');
    if ((opcode === OP_TEXT || opcode === OP_BINARY) && this.data !== undefined) return this.problem(`new data frame (opcode ${opcode}) inside a fragmented message (RFC 6455 §5.4)`);

    if (control) this.target = this.open(opcode, false);
    else if (opcode === OP_CONTINUATION) this.target = this.data;
    else this.target = this.data = this.open(opcode, rsv1 && this.shared.perMessageDeflate);
    this.target!.size += length;
    this.fin = fin;
    // §5.3: the masking key is the last 4 bytes of the head. Client frames carry one, server
    // frames none (§5.1); the MASK bit is what says which, so a peer breaking §5.1 still reads right.
    this.masked = (b1 & 0x80) !== 0;
    if (this.masked) this.head.copy(this.mask, 0, headLength - 4, headLength);
    this.payloadLeft = length;
    this.payloadRead = 0;
    this.inPayload = true;
    if (length === 0) this.endFrame();
  }

  /** §5.2: 126 → 16-bit length, 127 → 64-bit length whose most significant bit MUST be 0. */
  private payloadLength(len7: number): number | undefined {
    if (len7 < 126) return len7;
    if (len7 === 126) return this.head.readUInt16BE(2);
    const high = this.head.readUInt32BE(2);
    const low = this.head.readUInt32BE(6);
    if (high & 0x80000000) {
      this.problem('64-bit payload length with its most significant bit set (RFC 6455 §5.2)');
      return undefined;
    }
    const length = high * 2 ** 32 + low;
    if (!Number.isSafeInteger(length)) {
      this.problem(`64-bit payload length ${(BigInt(high) << 32n) | BigInt(low)} beyond what the reader counts (2^53)`);
      return undefined;
    }
    return length;
  }

  private open(opcode: number, compressed: boolean): Pending {
    const shared = this.shared;
    // Decided when the message starts: a message is kept whole up to the budget, or not at all.
    const kept = shared.budget[this.from] > 0 && shared.slots > 0;
    if (kept) shared.slots -= 1;
    return { opcode, compressed, size: 0, kept, chunks: [], keptBytes: 0 };
  }

  private payload(bytes: Buffer): void {
    const target = this.target!;
    const position = this.payloadRead;
    this.payloadLeft -= bytes.length;
    this.payloadRead += bytes.length;
    if (!target.kept) return;
    const room = Math.min(bytes.length, this.shared.budget[this.from]);
    if (room <= 0) return;
    // A copy: the socket's buffers are not ours to hold, and only the kept bytes are unmasked.
    const kept = Buffer.from(bytes.subarray(0, room));
    if (this.masked) {
      // §5.3: octet i of the payload is XORed with octet (i mod 4) of the masking key.
      for (let i = 0; i < kept.length; i++) kept[i] = kept[i]! ^ this.mask[(position + i) & 3]!;
    }
    target.chunks.push(kept);
    target.keptBytes += room;
    this.shared.budget[this.from] -= room;
  }

  private endFrame(): void {
    this.inPayload = false;
    this.frameStart = this.offset;
    const target = this.target!;
    this.target = undefined;
    if (!this.fin) return;
    if (target === this.data) this.data = undefined;
    const { record, clock } = this.shared;
    record.counts[this.from] += 1;
    if (!target.kept) {
      record.dropped += 1;
      return;
    }
    const message: WebSocketMessage = { from: this.from, time: clock(), opcode: target.opcode, data: Buffer.concat(target.chunks, target.keptBytes), size: target.size };
    if (target.keptBytes < target.size) message.truncated = true;
    if (target.compressed) message.compressed = true;
    record.messages.push(message);
  }

  private problem(what: string, after = '; the rest of this direction was not read'): void {
    this.shared.record.problems.push(`${this.from}: ${what}, in the frame at byte ${this.frameStart}${after}`);
    this.stopped = true;
  }
}

function extendedLengthBytes(b1: number): number {
  const len7 = b1 & 0x7f;
  return len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
}

/** Both directions of one WebSocket connection, onto one record. */
export class WebSocketCapture {
  readonly record: WebSocketRecord = { messages: [], counts: { client: 0, server: 0 }, dropped: 0, problems: [] };
  readonly client: WebSocketFrameReader;
  readonly server: WebSocketFrameReader;

  constructor(options: WebSocketCaptureOptions) {
    const shared: Shared = {
      record: this.record,
      budget: { client: options.captureBytes, server: options.captureBytes },
      slots: options.maxMessages ?? MAX_MESSAGES,
      perMessageDeflate: options.perMessageDeflate ?? false,
      clock: options.clock ?? now,
    };
    this.client = new WebSocketFrameReader('client', shared);
    this.server = new WebSocketFrameReader('server', shared);
  }

  /** The connection closed: notes frames cut short, and gives the record. */
  end(): WebSocketRecord {
    this.client.end();
    this.server.end();
    return this.record;
  }
}

/**
 * RFC 7692 §5: the 101's Sec-WebSocket-Extensions names the extensions in force; permessage-deflate
 * is the one that gives RSV1 its meaning. Values are comma lists of `name; param=value`.
 */
export function negotiatesPerMessageDeflate(extensions: readonly string[]): boolean {
  return extensions.some((value) => value.split(',').some((ext) => ext.split(';')[0]!.trim().toLowerCase() === 'permessage-deflate'));
}

/**
 * Chunk boundaries carry no meaning in a WebSocket stream (RFC 6455 §5.2 frames a byte stream):
 * for any split of the same bytes, the frame reader must give the record it gives for one chunk,
 * including cuts inside a frame head, its 16- or 64-bit length and its masking key. Checked on
 * random conversations of fragmented messages with control frames between the fragments, masked
 * and not, with non-minimal length forms, under random budgets, with garbage after them; and the
 * messages read must be the messages sent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { WebSocketMessage, WebSocketRecord } from '../../src/core/exchange.js';
import { WebSocketCapture } from '../../src/protocols/websocket-frames.js';

interface Frame {
  opcode: number;
  payload: Uint8Array;
  fin: boolean;
  rsv1: boolean;
  mask: Uint8Array | undefined;
  /** Extra length-field size beyond the minimal one (§5.2 lets a reader accept any). */
  widen: 0 | 1 | 2;
}

/** An encoder of one frame from RFC 6455 §5.2, independent of the reader. */
function encode(f: Frame): Buffer {
  const len = f.payload.length;
  const minimal = len < 126 ? 0 : len < 65536 ? 1 : 2;
  const form = Math.max(minimal, f.widen);
  const ext = [0, 2, 8][form]!;
  const head = Buffer.alloc(2 + ext + (f.mask ? 4 : 0));
  head[0] = (f.fin ? 0x80 : 0) | (f.rsv1 ? 0x40 : 0) | f.opcode;
  head[1] = (f.mask ? 0x80 : 0) | [len, 126, 127][form]!;
  if (form === 1) head.writeUInt16BE(len, 2);
  if (form === 2) head.writeBigUInt64BE(BigInt(len), 2);
  if (!f.mask) return Buffer.concat([head, f.payload]);
  const mask = f.mask;
  Buffer.from(mask).copy(head, 2 + ext);
  return Buffer.concat([head, Buffer.from(f.payload).map((b, i) => b ^ mask[i % 4]!)]);
}

/** Cuts `bytes` at the given offsets (any order, repeats allowed: empty chunks are pushed too). */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...cuts].map((c) => c % (bytes.length + 1)).sort((x, y) => x - y);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of points) {
    chunks.push(bytes.subarray(from, to));
    from = to;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

const maskArb = (masked: boolean): fc.Arbitrary<Uint8Array | undefined> => (masked ? fc.uint8Array({ minLength: 4, maxLength: 4 }) : fc.constant(undefined));
const widenArb = fc.constantFrom<0 | 1 | 2>(0, 0, 1, 2);
const payloadArb = fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 300 }) });

/** A control frame (§5.5): close, ping or pong, at most 125 bytes, never fragmented. */
const controlArb = (masked: boolean): fc.Arbitrary<Frame> =>
  fc.record({
    opcode: fc.constantFrom(8, 9, 10),
    payload: fc.uint8Array({ maxLength: 125 }),
    fin: fc.constant(true),
    rsv1: fc.constant(false),
    mask: maskArb(masked),
    widen: widenArb,
  });

/** One data message as fragments (§5.4), each possibly followed by control frames, and what the reader should make of it. */
const messageArb = (masked: boolean): fc.Arbitrary<{ frames: Frame[]; expected: Array<Omit<WebSocketMessage, 'from' | 'time'>> }> =>
  fc
    .record({
      opcode: fc.constantFrom(1, 2),
      compressed: fc.boolean(),
      fragments: fc.array(fc.record({ payload: payloadArb, mask: maskArb(masked), widen: widenArb, rsv1: fc.boolean(), between: fc.array(controlArb(masked), { maxLength: 2 }) }), { minLength: 1, maxLength: 4 }),
    })
    .map(({ opcode, compressed, fragments }) => {
      const frames: Frame[] = [];
      const expected: Array<Omit<WebSocketMessage, 'from' | 'time'>> = [];
      fragments.forEach((part, i) => {
        const last = i === fragments.length - 1;
        // RFC 7692 §6: only the first frame's RSV1 counts; later fragments' bits are noise to the reader.
        frames.push({ opcode: i === 0 ? opcode : 0, payload: part.payload, fin: last, rsv1: i === 0 ? compressed : part.rsv1, mask: part.mask, widen: part.widen });
        if (last) return;
        for (const control of part.between) {
          frames.push(control);
          expected.push({ opcode: control.opcode, data: Buffer.from(control.payload), size: control.payload.length });
        }
      });
      const data = Buffer.concat(fragments.map((f) => f.payload));
      expected.push({ opcode, data, size: data.length, ...(compressed && { compressed: true }) });
      return { frames, expected };
    });

const directionArb = (masked: boolean): fc.Arbitrary<{ bytes: Buffer; expected: Array<Omit<WebSocketMessage, 'from' | 'time'>> }> =>
  fc.array(fc.oneof(messageArb(masked), controlArb(masked).map((f) => ({ frames: [f], expected: [{ opcode: f.opcode, data: Buffer.from(f.payload), size: f.payload.length }] }))), { maxLength: 8 }).map((messages) => ({
    bytes: Buffer.concat(messages.flatMap((m) => m.frames.map(encode))),
    expected: messages.flatMap((m) => m.expected),
  }));

interface Run {
  captureBytes: number;
  maxMessages: number;
  client: readonly Buffer[];
  server: readonly Buffer[];
}

/** Pushes the two directions' chunks alternately, as two sockets would deliver them. */
function read(run: Run): WebSocketRecord {
  let tick = 0;
  const capture = new WebSocketCapture({ captureBytes: run.captureBytes, maxMessages: run.maxMessages, perMessageDeflate: true, clock: () => ++tick });
  for (let i = 0; i < Math.max(run.client.length, run.server.length); i++) {
    if (i < run.client.length) capture.client.push(run.client[i]!);
    if (i < run.server.length) capture.server.push(run.server[i]!);
  }
  return capture.end();
}

/** Messages of one side, without the fields the order of the two sides decides. */
function sideOf(record: WebSocketRecord, from: 'client' | 'server'): Array<Omit<WebSocketMessage, 'from' | 'time'>> {
  return record.messages.filter((m) => m.from === from).map(({ opcode, data, size, truncated, compressed }) => ({ opcode, data, size, ...(truncated && { truncated }), ...(compressed && { compressed }) }));
}

const cutsArb = fc.array(fc.nat(), { maxLength: 24 });
const garbageArb = fc.oneof({ weight: 3, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 20 }) });

describe('websocket frames, property', () => {
  it('reads back exactly the messages sent, in the order their last frames came', () => {
    fc.assert(
      fc.property(directionArb(true), directionArb(false), (client, server) => {
        const record = read({ captureBytes: 1 << 24, maxMessages: 10_000, client: [client.bytes], server: [server.bytes] });
        assert.deepEqual(record.problems, []);
        assert.equal(record.dropped, 0);
        assert.deepEqual(record.counts, { client: client.expected.length, server: server.expected.length });
        assert.deepEqual(sideOf(record, 'client'), client.expected);
        assert.deepEqual(sideOf(record, 'server'), server.expected);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same record for every split of the same bytes, under any budget, garbage included', () => {
    fc.assert(
      fc.property(
        directionArb(true),
        directionArb(false),
        garbageArb,
        garbageArb,
        fc.nat({ max: 600 }),
        fc.integer({ min: 1, max: 12 }),
        cutsArb,
        cutsArb,
        (client, server, clientTail, serverTail, captureBytes, maxMessages, clientCuts, serverCuts) => {
          const up = Buffer.concat([client.bytes, clientTail]);
          const down = Buffer.concat([server.bytes, serverTail]);
          // The clock ticks once per message kept, and one side is pushed whole before the other,
          // so that times depend on the bytes and not on how the two sides interleave.
          const whole = read({ captureBytes, maxMessages, client: [up], server: [] });
          const cut = read({ captureBytes, maxMessages, client: split(up, clientCuts), server: [] });
          assert.deepEqual(cut, whole);
          const wholeDown = read({ captureBytes, maxMessages, client: [], server: [down] });
          const cutDown = read({ captureBytes, maxMessages, client: [], server: split(down, serverCuts) });
          assert.deepEqual(cutDown, wholeDown);
          // Both sides together: per side, the same messages whatever the interleaving.
          const both = read({ captureBytes, maxMessages: 1_000, client: split(up, clientCuts), server: split(down, serverCuts) });
          const bothWhole = read({ captureBytes, maxMessages: 1_000, client: [up], server: [down] });
          assert.deepEqual(sideOf(both, 'client'), sideOf(bothWhole, 'client'));
          assert.deepEqual(sideOf(both, 'server'), sideOf(bothWhole, 'server'));
          assert.deepEqual(both.counts, bothWhole.counts);
          assert.deepEqual([...both.problems].sort(), [...bothWhole.problems].sort());
          // The budget holds per side.
          for (const side of ['client', 'server'] as const) {
            const kept = both.messages.filter((m) => m.from === side).reduce((n, m) => n + m.data.length, 0);
            assert.ok(kept <= captureBytes, `${side} kept ${kept} > ${captureBytes}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads a masked frame with a 64-bit length the same when cut at any one or two points, or byte by byte', () => {
    const bytes = Buffer.concat([
      encode({ opcode: 1, payload: Buffer.from('a fragment '), fin: false, rsv1: true, mask: Uint8Array.from([1, 2, 3, 4]), widen: 2 }),
      encode({ opcode: 9, payload: Buffer.from('ping'), fin: true, rsv1: false, mask: Uint8Array.from([0xff, 0, 0xff, 0]), widen: 1 }),
      encode({ opcode: 0, payload: Buffer.alloc(300, 0x5a), fin: true, rsv1: false, mask: Uint8Array.from([9, 9, 9, 9]), widen: 2 }),
    ]);
    const whole = read({ captureBytes: 200, maxMessages: 10, client: [bytes], server: [] });
    assert.deepEqual(whole.problems, []);
    assert.equal(whole.messages.length, 2);
    for (let a = 0; a <= bytes.length; a++) {
      assert.deepEqual(read({ captureBytes: 200, maxMessages: 10, client: split(bytes, [a]), server: [] }), whole, `cut at ${a}`);
      for (let b = a; b <= Math.min(bytes.length, a + 16); b++) {
        assert.deepEqual(read({ captureBytes: 200, maxMessages: 10, client: split(bytes, [a, b]), server: [] }), whole, `cuts at ${a}, ${b}`);
      }
    }
    const bytewise = [...bytes].map((b) => Buffer.from([b]));
    assert.deepEqual(read({ captureBytes: 200, maxMessages: 10, client: bytewise, server: [] }), whole);
  });
});

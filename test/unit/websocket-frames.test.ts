/**
 * The WebSocket frame reader (RFC 6455 §5.2–§5.5) on hand-built frames, no sockets: messages and
 * their fields, masking, extended lengths, fragments with control frames between them, RSV1
 * under permessage-deflate (RFC 7692 §6), the capture budget, and malformed frames as problems.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MESSAGES, negotiatesPerMessageDeflate, WebSocketCapture, type WebSocketCaptureOptions } from '../../src/protocols/websocket-frames.js';

interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  /** A masking key (client frames, RFC 6455 §5.3). */
  mask?: readonly number[];
  /** The length field's form; the minimal one when absent (§5.2 allows reading any). */
  lengthForm?: 7 | 16 | 64;
  /** Raw first byte of a 64-bit length, to set its most significant bit. */
  length64High?: number;
}

/** An independent encoder of one frame (§5.2), byte by byte from the RFC's diagram. */
function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const len = payload.length;
  const form = spec.lengthForm ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  const ext = form === 7 ? 0 : form === 16 ? 2 : 8;
  const mask = spec.mask;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (spec.fin === false ? 0 : 0x80) | (spec.rsv1 ? 0x40 : 0) | spec.opcode;
  head[1] = (mask ? 0x80 : 0) | (form === 7 ? len : form === 16 ? 126 : 127);
  if (form === 16) head.writeUInt16BE(len, 2);
  if (form === 64) head.writeBigUInt64BE(BigInt(len), 2);
  if (spec.length64High !== undefined) head[2] = spec.length64High;
  if (!mask) return Buffer.concat([head, payload]);
  Buffer.from(mask).copy(head, 2 + ext);
  return Buffer.concat([head, payload.map((b, i) => b ^ mask[i % 4]!)]);
}

const KEY = [0x37, 0xfa, 0x21, 0x3d];

/** A capture with a counting clock, so times say the order messages completed in. */
function capture(options: Partial<WebSocketCaptureOptions> = {}): WebSocketCapture {
  let tick = 0;
  return new WebSocketCapture({ captureBytes: 1 << 20, clock: () => ++tick, ...options });
}

describe('websocket frames', () => {
  it('reads an unmasked server text message and a masked client binary message', () => {
    const c = capture();
    c.server.push(frame({ opcode: 1, payload: 'Hello' }));
    const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]);
    c.client.push(frame({ opcode: 2, payload: binary, mask: KEY }));
    const record = c.end();
    assert.deepEqual(record, {
      messages: [
        { from: 'server', time: 1, opcode: 1, data: Buffer.from('Hello'), size: 5 },
        { from: 'client', time: 2, opcode: 2, data: binary, size: 6 },
      ],
      counts: { client: 1, server: 1 },
      dropped: 0,
      problems: [],
    });
  });

  it('reads RFC 6455 §5.7 example frames byte for byte', () => {
    const c = capture();
    // A single-frame masked text message "Hello" and an unmasked ping "Hello" (§5.7).
    c.client.push(Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]));
    c.server.push(Buffer.from([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
    // A fragmented unmasked text message: "Hel" then "lo" (§5.7).
    c.server.push(Buffer.from([0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]));
    const { messages } = c.end();
    assert.deepEqual(
      messages.map((m) => [m.from, m.opcode, m.data.toString()]),
      [
        ['client', 1, 'Hello'],
        ['server', 9, 'Hello'],
        ['server', 1, 'Hello'],
      ],
    );
  });

  it('reads 16-bit and 64-bit extended lengths, minimal or not', () => {
    const c = capture();
    const p200 = Buffer.alloc(200, 0x61);
    const p70k = Buffer.alloc(70_000);
    for (let i = 0; i < p70k.length; i++) p70k[i] = i % 251;
    c.server.push(frame({ opcode: 2, payload: p200 }));
    c.client.push(frame({ opcode: 2, payload: p70k, mask: KEY }));
    c.server.push(frame({ opcode: 1, payload: 'short', lengthForm: 64 }));
    c.client.push(frame({ opcode: 1, payload: 'x', lengthForm: 16, mask: KEY }));
    const { messages, problems } = c.end();
    assert.deepEqual(problems, []);
    assert.deepEqual(messages.map((m) => m.size), [200, 70_000, 5, 1]);
    assert.deepEqual(messages[0]!.data, p200);
    assert.deepEqual(messages[1]!.data, p70k, 'unmasked across the whole payload');
    assert.equal(messages[2]!.data.toString(), 'short');
    assert.equal(messages[3]!.data.toString(), 'x');
  });

  it('joins fragments into one message, with control frames between them as messages of their own', () => {
    const c = capture();
    c.client.push(
      Buffer.concat([
        frame({ opcode: 1, payload: 'frag-', fin: false, mask: KEY }),
        frame({ opcode: 9, payload: 'are you there', mask: [1, 2, 3, 4] }),
        frame({ opcode: 0, payload: 'ment', fin: false, mask: [9, 8, 7, 6] }),
        frame({ opcode: 10, payload: '', mask: KEY }),
        frame({ opcode: 0, payload: 'ed', mask: [0, 0, 0, 0] }),
      ]),
    );
    const record = c.end();
    assert.deepEqual(
      record.messages.map((m) => ({ opcode: m.opcode, data: m.data.toString(), size: m.size, time: m.time })),
      [
        { opcode: 9, data: 'are you there', size: 13, time: 1 },
        { opcode: 10, data: '', size: 0, time: 2 },
        { opcode: 1, data: 'frag-mented', size: 11, time: 3 },
      ],
    );
    assert.deepEqual(record.counts, { client: 3, server: 0 });
    assert.deepEqual(record.problems, []);
  });

  it('keeps a close frame with its status code and reason', () => {
    const c = capture();
    const payload = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]);
    c.server.push(frame({ opcode: 8, payload }));
    const [close] = c.end().messages;
    assert.equal(close?.opcode, 8);
    assert.equal(close?.data.readUInt16BE(0), 1000);
    assert.equal(close?.data.subarray(2).toString(), 'bye');
  });

  it('marks RSV1 on a first frame as compressed under permessage-deflate only, and keeps the data as it came', () => {
    const deflated = Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]); // "Hello", RFC 7692 §7.2.3.1
    const on = capture({ perMessageDeflate: true });
    on.server.push(frame({ opcode: 1, payload: deflated, rsv1: true }));
    on.server.push(frame({ opcode: 1, payload: 'plain' }));
    on.client.push(Buffer.concat([frame({ opcode: 2, payload: deflated.subarray(0, 3), rsv1: true, fin: false, mask: KEY }), frame({ opcode: 0, payload: deflated.subarray(3), mask: KEY })]));
    const record = on.end();
    assert.deepEqual(
      record.messages.map((m) => [m.from, m.compressed, m.data]),
      [
        ['server', true, deflated],
        ['server', undefined, Buffer.from('plain')],
        ['client', true, deflated],
      ],
    );
    const off = capture();
    off.server.push(frame({ opcode: 1, payload: deflated, rsv1: true }));
    assert.equal(off.end().messages[0]?.compressed, undefined, 'RSV1 means nothing the reader knows of without the extension');
  });

  it('keeps the first bytes of a message over the budget, with its real size, and drops later messages', () => {
    const c = capture({ captureBytes: 10 });
    const big = Buffer.from('0123456789abcdefghij');
    c.client.push(frame({ opcode: 1, payload: 'four', mask: KEY }));
    c.client.push(frame({ opcode: 2, payload: big, mask: [0xaa, 0x55, 0x0f, 0xf0] }));
    c.client.push(frame({ opcode: 1, payload: 'later', mask: KEY }));
    c.client.push(frame({ opcode: 9, mask: KEY }));
    // The budget is per direction: the server's is still whole.
    c.server.push(frame({ opcode: 1, payload: 'server side' }));
    const record = c.end();
    assert.deepEqual(
      record.messages.map((m) => [m.from, m.data.toString(), m.size, m.truncated]),
      [
        ['client', 'four', 4, undefined],
        ['client', '012345', 20, true],
        ['server', 'server sid', 11, true],
      ],
    );
    assert.deepEqual(record.counts, { client: 4, server: 1 });
    assert.equal(record.dropped, 2);
  });

  it('spends the budget across fragments and the control frames between them, in wire order', () => {
    const c = capture({ captureBytes: 8 });
    c.server.push(frame({ opcode: 1, payload: 'abcde', fin: false }));
    c.server.push(frame({ opcode: 9, payload: 'PING' }));
    c.server.push(frame({ opcode: 0, payload: 'fghij' }));
    const record = c.end();
    assert.deepEqual(
      record.messages.map((m) => [m.opcode, m.data.toString(), m.size, m.truncated]),
      [
        [9, 'PIN', 4, true],
        [1, 'abcde', 10, true],
      ],
    );
    assert.equal(record.dropped, 0);
  });

  it('keeps at most maxMessages messages per connection and counts the rest as dropped', () => {
    assert.equal(MAX_MESSAGES, 10_000);
    const c = capture({ maxMessages: 3 });
    for (let i = 0; i < 4; i++) {
      c.client.push(frame({ opcode: 1, payload: `c${i}`, mask: KEY }));
      c.server.push(frame({ opcode: 1, payload: `s${i}` }));
    }
    const record = c.end();
    assert.deepEqual(record.messages.map((m) => m.data.toString()), ['c0', 's0', 'c1']);
    assert.deepEqual(record.counts, { client: 4, server: 4 });
    assert.equal(record.dropped, 5);
  });

  it('keeps no bytes with a budget of 0 but still counts', () => {
    const c = capture({ captureBytes: 0 });
    c.server.push(frame({ opcode: 1, payload: 'a' }));
    const record = c.end();
    assert.deepEqual(record, { messages: [], counts: { client: 0, server: 1 }, dropped: 1, problems: [] });
  });

  describe('malformed frames: one problem with its offset, then that direction is not read', () => {
    const good = frame({ opcode: 1, payload: 'ok' }); // 4 bytes
    const cases: Array<[string, Buffer, RegExp]> = [
      ['a reserved opcode', frame({ opcode: 3, payload: 'x' }), /^server: reserved opcode 3, in the frame at byte 4;/],
      ['a reserved control opcode', frame({ opcode: 0xb }), /^server: reserved opcode 11, in the frame at byte 4;/],
      ['a control frame over 125 bytes', frame({ opcode: 9, payload: Buffer.alloc(126) }), /^server: control frame \(opcode 9\) of 126 bytes: at most 125 .*at byte 4;/],
      ['a fragmented control frame', frame({ opcode: 8, payload: 'x', fin: false }), /^server: control frame \(opcode 8\) without FIN.*at byte 4;/],
      ['a 64-bit length with its top bit set', frame({ opcode: 2, payload: 'x', lengthForm: 64, length64High: 0x80 }), /^server: 64-bit payload length with its most significant bit set .*at byte 4;/],
      ['a continuation without a start', frame({ opcode: 0, payload: 'x' }), /^server: continuation frame with no message started .*at byte 4;/],
      ['a 64-bit length past 2^53', frame({ opcode: 2, payload: 'x', lengthForm: 64, length64High: 0x7f }), /^server: 64-bit payload length \d+ beyond .*at byte 4;/],
    ];
    for (const [name, bad, problem] of cases) {
      it(name, () => {
        const c = capture();
        c.server.push(Buffer.concat([good, bad, good]));
        c.client.push(frame({ opcode: 1, payload: 'other side', mask: KEY }));
        const record = c.end();
        assert.equal(record.problems.length, 1, record.problems.join('\n'));
        assert.match(record.problems[0]!, problem);
        assert.deepEqual(record.counts, { client: 1, server: 1 }, 'the frame after the bad one is not read; the other side is');
        assert.deepEqual(record.messages.map((m) => m.data.toString()), ['ok', 'other side']);
      });
    }

    it('a new data frame inside a fragmented message', () => {
      const c = capture();
      c.client.push(Buffer.concat([frame({ opcode: 1, payload: 'a', fin: false, mask: KEY }), frame({ opcode: 2, payload: 'b', mask: KEY })]));
      const record = c.end();
      assert.deepEqual(record.problems, ['client: new data frame (opcode 2) inside a fragmented message (RFC 6455 §5.4), in the frame at byte 7; the rest of this direction was not read']);
      assert.deepEqual(record.counts, { client: 0, server: 0 });
    });
  });

  it('says when the connection ended inside a frame or a fragmented message, and not after whole frames', () => {
    const whole = capture();
    whole.server.push(frame({ opcode: 1, payload: 'done' }));
    assert.deepEqual(whole.end().problems, []);

    const inPayload = capture();
    inPayload.server.push(frame({ opcode: 1, payload: 'cut short' }).subarray(0, 6));
    assert.deepEqual(inPayload.end().problems, ['server: the connection ended inside a frame (4 of 9 payload bytes), in the frame at byte 0']);

    const inHead = capture();
    inHead.client.push(frame({ opcode: 1, payload: 'x', mask: KEY }).subarray(0, 3));
    assert.match(inHead.end().problems[0]!, /^client: the connection ended inside a frame \(3 head bytes\)/);

    const inMessage = capture();
    inMessage.server.push(frame({ opcode: 1, payload: 'first', fin: false }));
    assert.match(inMessage.end().problems[0]!, /^server: the connection ended inside a fragmented message/);
  });

  it('times a message when its final frame completes, on the record clock by default', () => {
    const before = performance.timeOrigin + performance.now();
    const c = new WebSocketCapture({ captureBytes: 100 });
    c.server.push(frame({ opcode: 1, payload: 'now' }));
    const after = performance.timeOrigin + performance.now();
    const time = c.end().messages[0]!.time;
    assert.ok(time >= before && time <= after, `${time} within [${before}, ${after}]`);
  });

  it('finds permessage-deflate in Sec-WebSocket-Extensions values', () => {
    assert.equal(negotiatesPerMessageDeflate(['permessage-deflate; client_max_window_bits=15']), true);
    assert.equal(negotiatesPerMessageDeflate(['x-foo, PerMessage-Deflate']), true);
    assert.equal(negotiatesPerMessageDeflate(['x-webkit-deflate-frame']), false);
    assert.equal(negotiatesPerMessageDeflate([]), false);
  });
});

/**
 * The live feed's batches (src/control/event-ring.ts) and their wire form (src/control/feed.ts
 * textFrames): the messages of a batch, framed by hand into one write, read back by ws's own
 * frame parser at every length boundary of RFC 6455 §5.2; byte offsets with non-ASCII text; and
 * the ring of batches, which holds at least its capacity in events and replays from any seq.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventEmitter } from 'node:events';
import * as ws from 'ws';
import { BatchBuilder, EventRing, FINISHED, messageOf, STARTED } from '../../src/control/event-ring.js';
import { textFrames } from '../../src/control/feed.js';

/** ws's frame parser (exported by ws, not declared by @types/ws). */
const { Receiver } = ws as unknown as {
  Receiver: new (options: { isServer: boolean; maxPayload: number; skipUTF8Validation: boolean }) => EventEmitter & { write(chunk: Buffer): void };
};

/** Every text message in `wire`, as ws's Receiver (the client side's parser) reads them. */
function parse(wire: Buffer): string[] {
  const messages: string[] = [];
  const receiver = new Receiver({ isServer: false, maxPayload: 1 << 24, skipUTF8Validation: false });
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    assert.equal(isBinary, false);
    messages.push(data.toString('utf8'));
  });
  receiver.on('error', (err: Error) => assert.fail(err));
  receiver.write(wire);
  return messages;
}

function batchOf(texts: string[], firstSeq = 1) {
  const builder = new BatchBuilder();
  texts.forEach((text, i) => builder.add(i % 2 === 0 ? STARTED : FINISHED, text));
  return builder.take(firstSeq);
}

describe('feed batches on the wire', () => {
  it('frames every message with the fewest length bytes; ws reads back each one, in order', () => {
    const lengths = [0, 1, 125, 126, 127, 65535, 65536, 70000];
    const texts = lengths.map((n, i) => `${i}`.padEnd(Math.max(n, 1), 'x').slice(0, n));
    const batch = batchOf(texts);
    const wire = textFrames(batch);
    assert.deepEqual(parse(wire), texts);
    // Header bytes: 2 below 126, 4 up to 65535, 10 above (RFC 6455 §5.2 "minimal number of bytes").
    const headers = lengths.reduce((n, l) => n + (l < 126 ? 2 : l < 65536 ? 4 : 10), 0);
    assert.equal(wire.length, headers + lengths.reduce((a, b) => a + b, 0));
  });

  it('sends only the messages asked for', () => {
    const texts = ['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}'];
    assert.deepEqual(parse(textFrames(batchOf(texts), [1, 3])), ['{"b":2}', '{"d":4}']);
  });

  it('cuts messages at byte offsets when the text is not ASCII', () => {
    const texts = ['{"u":"é"}', '{"u":"\u2028 ✓"}', '{"u":"😀"}', '{"u":"a"}'];
    const batch = batchOf(texts);
    assert.deepEqual([0, 1, 2, 3].map((i) => messageOf(batch, i).toString('utf8')), texts);
    assert.deepEqual(parse(textFrames(batch)), texts);
  });
});

describe('feed batch builder', () => {
  it('grows past its first buffer, keeps every message whole, and starts afresh after a take', () => {
    const builder = new BatchBuilder();
    const texts = Array.from({ length: 700 }, (_, i) => `{"i":${i},"u":"${'é✓'.repeat(i % 50)}${'x'.repeat(i)}"}`);
    for (const t of texts) builder.add(FINISHED, t);
    const batch = builder.take(11);
    assert.equal(batch.count, 700);
    assert.ok(batch.payload.length > 64 * 1024);
    assert.deepEqual(Array.from({ length: 700 }, (_, i) => messageOf(batch, i).toString('utf8')), texts);
    builder.add(STARTED, '{"again":1}');
    const next = builder.take(711);
    assert.equal(next.count, 1);
    assert.equal(messageOf(next, 0).toString('utf8'), '{"again":1}');
    assert.equal(messageOf(batch, 0).toString('utf8'), texts[0], 'a batch taken is its own copy');
  });
});

describe('feed ring of batches', () => {
  const texts = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `{"seq":${from + i}}`);

  it('holds its capacity in events, the oldest going first, also from inside a batch', () => {
    const ring = new EventRing(10);
    let seq = 1;
    for (let b = 0; b < 500; b++) {
      const n = 1 + (b % 4);
      ring.push(batchOf(texts(seq, n), seq));
      seq += n;
      assert.equal(ring.size, Math.min(10, seq - 1));
    }
    const held = ring.after(0);
    assert.equal(held.length, 10);
    assert.deepEqual(held.map((e) => e.seq), Array.from({ length: held.length }, (_, i) => seq - held.length + i));
  });

  it('replays from inside a batch, at its edges, and past the newest', () => {
    const ring = new EventRing(100);
    ring.push(batchOf(texts(1, 3), 1));
    ring.push(batchOf(texts(4, 3), 4));
    ring.push(batchOf(texts(7, 2), 7));
    for (const since of [0, 1, 2, 3, 4, 6, 7, 8]) {
      const held = ring.after(since);
      assert.deepEqual(held.map((e) => e.seq), Array.from({ length: 8 - since }, (_, i) => since + 1 + i), `since ${since}`);
      for (const e of held) assert.equal(e.data.toString('utf8'), `{"seq":${e.seq}}`);
    }
    assert.equal(ring.after(1).map((e) => e.type).join(' '), 'finished started started finished started started finished');
    ring.clear();
    assert.deepEqual(ring.after(0), []);
  });
});

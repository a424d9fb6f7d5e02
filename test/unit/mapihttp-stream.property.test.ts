/**
 * Chunk boundaries carry no meaning (MS-OXCMAPIHTTP 3.1.5.6): for any split of the same bytes the
 * inner-stream parser must give the facts it gives for one chunk. Checked on the §4 fixture
 * streams and on random meta-tag sequences with gromox's glued PENDINGs, garbage and binary.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MapiStreamParser, parseMapiStream } from '../../src/protocols/mapihttp-stream.js';
import { readInnerStream } from '../fixtures/mapihttp/read.js';

const FIXTURE_STREAMS = [
  'connect-response.bin',
  'connect-rejected-response.bin',
  'execute-chunked-response.wire',
  'gromox-notificationwait-response.wire',
  'execute-late-failure-response.wire',
].map((name) => ({ name, bytes: readInnerStream(name) }));

const b = (text: string): Buffer => Buffer.from(text, 'latin1');

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

function parseSplit(chunks: readonly Buffer[]): { before: ReturnType<MapiStreamParser['facts']>; after: ReturnType<MapiStreamParser['end']> } {
  const parser = new MapiStreamParser();
  for (const chunk of chunks) parser.push(chunk);
  return { before: parser.facts(), after: parser.end() };
}

function assertSplitInvariant(bytes: Buffer, cuts: readonly number[]): void {
  const whole = parseSplit([bytes]);
  const pieces = parseSplit(split(bytes, cuts));
  assert.deepEqual(pieces.after, whole.after);
  assert.deepEqual(pieces.before, whole.before);
}

const cutsArb = fc.array(fc.nat(), { maxLength: 24 });

// Tokens a server (conformant or not) might emit before and after DONE.
const tokenArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('PROCESSING\r\n', 'PENDING\r\n', 'PENDING', 'DONE\r\n', 'processing\r\n', 'Pending', 'done\r\n') },
  { weight: 4, arbitrary: fc.constantFrom('X-ResponseCode: 0\r\n', 'X-ResponseCode: 10\r\n', 'X-ElapsedTime: 34\r\n', 'X-StartTime: Wed, 31 Jan 2018 05:15:08 GMT\r\n', 'Content-Type: text/html\r\n', '\r\n') },
  { weight: 2, arbitrary: fc.constantFrom('PEND', 'PROC\r\n', 'XYZ\r\n', ' ', '\n', '\r', 'DONEX', 'nocolon\r\n') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('a'.repeat(1100), `X-Long: ${'b'.repeat(1030)}\r\n`) },
);
const streamArb = fc
  .tuple(fc.array(tokenArb, { maxLength: 30 }), fc.uint8Array({ maxLength: 64 }))
  .map(([tokens, tail]) => Buffer.concat([b(tokens.join('')), Buffer.from(tail)]));

describe('inner stream: any chunking gives the one-chunk facts', () => {
  for (const { name, bytes } of FIXTURE_STREAMS) {
    it(`${name}: random splits`, () => {
      fc.assert(fc.property(cutsArb, (cuts) => assertSplitInvariant(bytes, cuts)), { numRuns: 300 });
    });

    it(`${name}: one byte at a time, and every single cut`, () => {
      assertSplitInvariant(bytes, Array.from({ length: bytes.length }, (_, i) => i));
      for (let cut = 0; cut <= bytes.length; cut++) assertSplitInvariant(bytes, [cut]);
    });
  }

  it('random meta-tag sequences, garbage and binary tails', () => {
    fc.assert(fc.property(streamArb, cutsArb, (bytes, cuts) => assertSplitInvariant(bytes, cuts)), { numRuns: 1000 });
  });

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), cutsArb, (bytes, cuts) => assertSplitInvariant(Buffer.from(bytes), cuts)), { numRuns: 500 });
  });
});

describe('inner stream: well-formed sequences are counted exactly', () => {
  // PROCESSING/PENDING in any mix and case, with or without CRLF (gromox), then DONE and headers.
  const metaArb = fc.array(fc.constantFrom('PROCESSING\r\n', 'PENDING\r\n', 'PENDING', 'Processing\r\n', 'pending'), { maxLength: 20 });

  it('counts every tag, reads the code and counts the body, for any chunking', () => {
    fc.assert(
      fc.property(metaArb, fc.integer({ min: 0, max: 18 }), fc.uint8Array({ maxLength: 200 }), cutsArb, (meta, code, body, cuts) => {
        const head = b(`${meta.join('')}DONE\r\nX-ResponseCode: ${code}\r\nX-ElapsedTime: 1\r\n\r\n`);
        const bytes = Buffer.concat([head, Buffer.from(body)]);
        const { after } = parseSplit(split(bytes, cuts));
        assert.equal(after.processing, meta.filter((t) => t.toUpperCase().startsWith('PROCESSING')).length);
        assert.equal(after.pending, meta.filter((t) => t.toUpperCase().startsWith('PENDING')).length);
        assert.equal(after.responseCode?.value, code);
        assert.equal(after.complete, true);
        assert.equal(after.bodyBytes, body.length);
        assert.equal(after.totalBytes, bytes.length);
        assert.deepEqual(after, parseMapiStream(bytes));
      }),
      { numRuns: 500 },
    );
  });
});

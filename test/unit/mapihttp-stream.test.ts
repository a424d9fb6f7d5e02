/**
 * The MAPI/HTTP inner stream: meta-tags, additional headers, body (MS-OXCMAPIHTTP 2.2.2.2, 2.2.7;
 * docs/protocols.md §1.8), on the §4 fixtures, gromox's variants and broken streams.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { responseCode } from '../../src/protocols/mapihttp-codes.js';
import { MAX_PROBLEMS, MapiStreamParser, parseMapiStream } from '../../src/protocols/mapihttp-stream.js';
import { effectiveResponseCode, observeMapiResponse } from '../../src/protocols/mapihttp.js';
import { dechunk, readBody, readHead, readInnerStream } from '../fixtures/mapihttp/read.js';

const START = 'Wed, 31 Jan 2018 05:15:08 GMT';
const b = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Pushes the chunks one by one, the way the proxy would, and ends. */
function parseChunks(chunks: readonly Buffer[]): ReturnType<MapiStreamParser['end']> {
  const parser = new MapiStreamParser();
  for (const chunk of chunks) parser.push(chunk);
  return parser.end();
}

describe('inner stream on the §4 fixtures', () => {
  it('reads the §4.1 Connect body: PROCESSING, DONE, three additional headers, the body counted', () => {
    const body = readBody('connect-response.bin');
    const facts = parseMapiStream(body);
    const head = `PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 34\r\nX-StartTime: ${START}\r\n\r\n`;
    assert.deepEqual(facts, {
      processing: 1,
      pending: 0,
      done: true,
      additionalHeaders: [['X-ResponseCode', '0'], ['X-ElapsedTime', '34'], ['X-StartTime', START]],
      responseCode: responseCode(0),
      elapsedTime: 34,
      startTime: START,
      bodyBytes: body.length - head.length,
      totalBytes: body.length,
      complete: true,
      phase: 'body',
      problems: [],
    });
  });

  it('reads the §4.3 chunked Execute chunk by chunk and never looks inside the body', () => {
    const chunks = dechunk(readBody('execute-chunked-response.wire'));
    assert.deepEqual(chunks.slice(0, 2).map((c) => c.toString('latin1')), ['PROCESSING\r\n', 'PENDING\r\n']);
    const facts = parseChunks(chunks);
    assert.equal(facts.processing, 1);
    assert.equal(facts.pending, 1);
    assert.equal(facts.complete, true);
    // The RopBuffer holds "PENDING\r\nDONE\r\nX-ResponseCode: 10\r\n\r\n": none of it may count.
    assert.deepEqual(facts.responseCode, responseCode(0));
    assert.equal(facts.additionalHeaders.length, 3);
    assert.equal(facts.bodyBytes, 16 + 47 + 4);
    assert.deepEqual(facts.problems, []);
  });

  it('reads gromox NotificationWait: PENDING without CRLF, PROCESSING twice (§1.8)', () => {
    const chunks = dechunk(readBody('gromox-notificationwait-response.wire'));
    assert.deepEqual(chunks.slice(0, 4).map((c) => c.toString('latin1')), ['PROCESSING\r\n', 'PENDING', 'PENDING', 'PENDING']);
    const facts = parseChunks(chunks);
    assert.equal(facts.processing, 2);
    assert.equal(facts.pending, 3);
    assert.equal(facts.done, true);
    assert.equal(facts.complete, true);
    assert.equal(facts.elapsedTime, 90);
    assert.equal(facts.bodyBytes, 16);
    assert.deepEqual(facts.problems, ['meta-tags not separated by CRLF (gromox sends PENDING so)']);
  });

  it('reads the gromox glued form in one chunk: PENDINGPENDINGDONE', () => {
    const facts = parseMapiStream(b('PROCESSING\r\nPENDINGPENDINGDONE\r\nX-ResponseCode: 0\r\n\r\nxy'));
    assert.equal(facts.processing, 1);
    assert.equal(facts.pending, 2);
    assert.equal(facts.complete, true);
    assert.equal(facts.bodyBytes, 2);
  });

  it('reads a late failure: outer 0, X-ResponseCode 10 and a Content-Type after DONE (§1.8)', () => {
    const outer = observeMapiResponse(200, readHead('execute-late-failure-response.http').raw);
    const stream = parseMapiStream(readInnerStream('execute-late-failure-response.wire'));
    assert.deepEqual(outer.responseCode, responseCode(0));
    assert.deepEqual(stream.responseCode, responseCode(10));
    assert.deepEqual(stream.additionalHeaders[1], ['Content-Type', 'text/html']);
    assert.equal(stream.bodyBytes, readBody('gromox-error-response.html').length);
    assert.deepEqual(effectiveResponseCode(outer, stream), { code: responseCode(10), late: true });
  });

  it('reads the §4.6 rejection as a plain success: the refusal is inside the body, which is not decoded', () => {
    const facts = parseMapiStream(readBody('connect-rejected-response.bin'));
    assert.deepEqual(facts.responseCode, responseCode(0));
    assert.equal(facts.complete, true);
    assert.deepEqual(facts.problems, []);
  });
});

describe('inner stream cut short', () => {
  const connect = readBody('connect-response.bin');

  it('notes a stream that ends before DONE, and where', () => {
    const parser = new MapiStreamParser();
    parser.push(connect.subarray(0, 'PROCESSING\r\nDO'.length));
    assert.deepEqual(parser.facts().problems, [], 'a snapshot before end() does not call the stream truncated');
    const facts = parser.end();
    assert.equal(facts.done, false);
    assert.equal(facts.phase, 'meta');
    assert.deepEqual(facts.problems, ['stream ended before DONE (inside "DO")']);
  });

  it('notes a stream that ends inside the additional headers', () => {
    const facts = parseMapiStream(connect.subarray(0, 'PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\n'.length));
    assert.equal(facts.done, true);
    assert.equal(facts.complete, false);
    assert.deepEqual(facts.responseCode, responseCode(0));
    assert.deepEqual(facts.problems, ['stream ended inside the additional headers (no blank line after them)']);
  });

  it('does not call a stream truncated once the body has begun', () => {
    const facts = parseMapiStream(connect.subarray(0, connect.length - 5));
    assert.equal(facts.complete, true);
    assert.deepEqual(facts.problems, []);
  });

  it('notes an empty body', () => {
    assert.deepEqual(parseMapiStream(Buffer.alloc(0)).problems, ['stream ended before DONE (empty body)']);
  });

  it('gives snapshots that later pushes do not change', () => {
    const parser = new MapiStreamParser();
    parser.push(b('PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\n'));
    const snapshot = parser.facts();
    parser.push(b('X-ElapsedTime: 1\r\n\r\nbody'));
    assert.equal(snapshot.additionalHeaders.length, 1);
    assert.equal(snapshot.complete, false);
    assert.equal(parser.facts().additionalHeaders.length, 2);
  });

  it('keeps nothing of a pushed chunk: changing it afterwards changes nothing', () => {
    const chunk = b('PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\nX-Elapsed');
    const parser = new MapiStreamParser();
    parser.push(chunk);
    chunk.fill(0x41);
    parser.push(b('Time: 7\r\n\r\n'));
    assert.deepEqual(parser.end().additionalHeaders, [['X-ResponseCode', '0'], ['X-ElapsedTime', '7']]);
  });
});

describe('inner stream with odd or broken bytes', () => {
  it('matches meta-tags and header names case-insensitively, as Microsoft\'s reference parser does', () => {
    const facts = parseMapiStream(b('processing\r\nPending\r\ndOnE\r\nx-responsecode: 12\r\nx-elapsedtime: 5\r\n\r\n'));
    assert.equal(facts.processing, 1);
    assert.equal(facts.pending, 1);
    assert.deepEqual(facts.responseCode, responseCode(12));
    assert.equal(facts.elapsedTime, 5);
    assert.deepEqual(facts.problems, []);
  });

  it('notes garbage lines before DONE and keeps going', () => {
    const facts = parseMapiStream(b('XYZ\r\nPROCESSING\r\nPEND\r\nPENDING nope\r\n\r\nDONE\r\nX-ResponseCode: 0\r\n\r\n'));
    assert.equal(facts.processing, 1);
    assert.equal(facts.pending, 1);
    assert.equal(facts.complete, true);
    assert.deepEqual(facts.problems, [
      'unexpected line "XYZ" before DONE',
      'unexpected line "PEND" before DONE',
      'whitespace around a meta-tag',
      'unexpected line "nope" before DONE',
      'empty line before DONE',
    ]);
  });

  it('stops reading lines after 1 KiB of garbage before DONE, and still counts the bytes', () => {
    const garbage = Buffer.alloc(5000, 0x5a);
    const facts = parseMapiStream(garbage);
    assert.equal(facts.phase, 'stopped');
    assert.equal(facts.totalBytes, 5000);
    assert.deepEqual(facts.problems, [
      'line over 1 KiB before DONE; stopped reading lines (the rest is only counted)',
      'stream ended before DONE',
    ]);
  });

  it('stops reading lines at an additional header line over 1 KiB', () => {
    const text = `PROCESSING\r\nDONE\r\nX-Long: ${'a'.repeat(2000)}\r\n\r\nbody`;
    const facts = parseMapiStream(b(text));
    assert.equal(facts.phase, 'stopped');
    assert.equal(facts.complete, false);
    assert.equal(facts.bodyBytes, 0);
    assert.equal(facts.totalBytes, text.length);
    assert.deepEqual(facts.problems, ['additional header line over 1 KiB; stopped reading lines (the rest is only counted)']);
  });

  it('accepts X-StartTime in the obsolete RFC 850 and asctime forms and refuses an impossible fixdate', () => {
    const parse = (date: string): string[] => parseMapiStream(b(`DONE\r\nX-ResponseCode: 0\r\nX-StartTime: ${date}\r\n\r\n`)).problems;
    assert.deepEqual(parse('Sunday, 06-Nov-94 08:49:37 GMT'), []);
    assert.deepEqual(parse('Sun Nov  6 08:49:37 1994'), []);
    assert.deepEqual(parse('Wed, 31 Jan 2018 25:15:08 GMT'), ['X-StartTime "Wed, 31 Jan 2018 25:15:08 GMT" is not a date']);
  });

  it('notes a bare CR inside an additional header line that arrives whole in one chunk', () => {
    const facts = parseMapiStream(b('DONE\r\nX-ResponseCode: 0\r\nX-Elapsed\rTime: 3\r\n\r\nbody'));
    assert.equal(facts.complete, true);
    assert.equal(facts.bodyBytes, 4);
    assert.deepEqual(facts.additionalHeaders, [['X-ResponseCode', '0'], ['X-Elapsed\rTime', '3']]);
    assert.deepEqual(facts.problems, ['bare CR not followed by LF']);
  });

  it('reads LF-only lines and notes them', () => {
    const facts = parseMapiStream(b('PROCESSING\nDONE\nX-ResponseCode: 0\n\nbody'));
    assert.equal(facts.complete, true);
    assert.equal(facts.bodyBytes, 4);
    assert.deepEqual(facts.problems, ['line ended by LF without CR']);
  });

  it('notes repeated, bad or missing additional headers', () => {
    const repeated = parseMapiStream(b('DONE\r\nX-ResponseCode: 0\r\nX-ResponseCode: 17\r\nX-ElapsedTime: soon\r\nX-StartTime: yesterday\r\nnocolon\r\n\r\n'));
    assert.deepEqual(repeated.responseCode, responseCode(17));
    assert.equal(repeated.elapsedTime, undefined);
    assert.equal(repeated.startTime, 'yesterday');
    assert.deepEqual(repeated.problems, [
      'X-ResponseCode repeated after DONE; the last value counts',
      'X-ElapsedTime "soon" is not a number',
      'X-StartTime "yesterday" is not a date',
      'additional header line "nocolon" has no name: value',
    ]);
    assert.deepEqual(parseMapiStream(b('DONE\r\n\r\n')).problems, ['no X-ResponseCode in the additional headers after DONE']);
    assert.deepEqual(parseMapiStream(b('DONEX-ResponseCode: 0\r\nX-ResponseCode: 1\r\n\r\n')).problems, [
      'unexpected text "X-ResponseCode: 0" after DONE',
    ]);
  });

  it('keeps at most MAX_PROBLEMS problems and counts the rest', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `junk${i}\r\n`).join('');
    const facts = parseMapiStream(b(`${lines}DONE\r\nX-ResponseCode: 0\r\n\r\n`));
    assert.equal(facts.problems.length, MAX_PROBLEMS + 1);
    assert.equal(facts.problems[MAX_PROBLEMS], `${40 - MAX_PROBLEMS} more problems not kept`);
    assert.equal(facts.complete, true);
  });

  it('counts a large body without reading it', () => {
    const parser = new MapiStreamParser();
    parser.push(b('PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\n\r\n'));
    const block = Buffer.alloc(64 * 1024, 0x0a);
    for (let i = 0; i < 160; i++) parser.push(block);
    const facts = parser.end();
    assert.equal(facts.bodyBytes, 160 * 64 * 1024);
    assert.deepEqual(facts.problems, []);
  });
});

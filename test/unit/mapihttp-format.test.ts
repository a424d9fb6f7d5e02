/**
 * The MAPI/HTTP inner-stream writer against the wire examples of docs/protocols.md §1.8, §4.1, §4.3, §4.5.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatAdditionalHeaders,
  formatBindResponse,
  formatConnectResponse,
  formatDone,
  formatErrorPage,
  formatExecuteResponse,
  formatInnerStream,
  formatMetaTag,
  formatNotificationWaitResponse,
  formatUrlResponse,
} from '../../src/protocols/mapihttp-format.js';

const START = new Date('2018-01-31T05:15:08Z');

describe('mapihttp-format', () => {
  it('writes meta-tags with the chunk sizes of spec example 4.2 (C, 9) and DONE as 6 bytes', () => {
    assert.equal(formatMetaTag('PROCESSING').toString('latin1'), 'PROCESSING\r\n');
    assert.equal(formatMetaTag('PROCESSING').length, 0xc);
    assert.equal(formatMetaTag('PENDING').length, 0x9);
    assert.equal(formatMetaTag('DONE').length, 6);
  });

  it('writes the DONE section of §4.3 byte for byte', () => {
    const body = Buffer.from([1, 2, 3]);
    const done = formatDone({ responseCode: 0, elapsedMs: 34, startTime: START, body });
    const head = 'DONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 34\r\nX-StartTime: Wed, 31 Jan 2018 05:15:08 GMT\r\n\r\n';
    assert.deepEqual(done, Buffer.concat([Buffer.from(head, 'latin1'), body]));
  });

  it('writes the non-chunked Connect stream of §4.1: PROCESSING, DONE, headers, blank line, body', () => {
    const stream = formatInnerStream(['PROCESSING'], { responseCode: 0, elapsedMs: 12.4, startTime: START });
    assert.equal(stream.toString('latin1'), 'PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 12\r\nX-StartTime: Wed, 31 Jan 2018 05:15:08 GMT\r\n\r\n');
  });

  it('can signal a late failure with an additional X-ResponseCode and extra headers (§1.8)', () => {
    const text = formatDone({ responseCode: 12, elapsedMs: 1, startTime: START, extra: [['Content-Type', 'text/html']] }).toString('latin1');
    assert.match(text, /^DONE\r\nX-ResponseCode: 12\r\n.*Content-Type: text\/html\r\n\r\n$/s);
    assert.equal(formatAdditionalHeaders([]).toString('latin1'), '\r\n');
  });

  it('writes the diagnostic page of §4.5', () => {
    const expected =
      '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n<title>MAPI OVER HTTP ERROR</title>\r\n</head><body>\r\n' +
      '<h1>Diagnostic Information</h1>\r\n<p>The Session Context is not found.</p>\r\n</body></html>\r\n';
    assert.equal(formatErrorPage('The Session Context is not found.').toString('utf8'), expected);
    assert.match(formatErrorPage('<x>').toString('utf8'), /<p>&lt;x&gt;<\/p>/);
  });

  it('lays out the Connect response of §1.6 little-endian', () => {
    const body = formatConnectResponse({ dnPrefix: '/o=X', displayName: 'U', pollsMax: 1, retryCount: 2, retryDelay: 3 });
    assert.deepEqual([body.readUInt32LE(0), body.readUInt32LE(4), body.readUInt32LE(8), body.readUInt32LE(12), body.readUInt32LE(16)], [0, 0, 1, 2, 3]);
    assert.equal(body.subarray(20, 25).toString('latin1'), '/o=X\0');
    assert.equal(body.subarray(25, 29).toString('utf16le'), 'U\0');
    assert.equal(body.readUInt32LE(29), 0);
    assert.equal(body.length, 33);
  });

  it('lays out Execute, NotificationWait, Bind and GetMailboxUrl responses of §1.6', () => {
    const rops = Buffer.from([9, 9]);
    const execute = formatExecuteResponse(rops);
    assert.deepEqual([execute.readUInt32LE(0), execute.readUInt32LE(4), execute.readUInt32LE(8), execute.readUInt32LE(12)], [0, 0, 0, 2]);
    assert.deepEqual(execute.subarray(16, 18), rops);
    assert.equal(execute.length, 22);
    assert.equal(formatNotificationWaitResponse(true).readUInt32LE(8), 1);
    assert.equal(formatBindResponse(Buffer.alloc(16, 7)).length, 4 + 4 + 16 + 4);
    const url = formatUrlResponse('https://a/');
    assert.equal(url.subarray(8, url.length - 4).toString('utf16le'), 'https://a/\0');
  });
});

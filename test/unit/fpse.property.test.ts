/**
 * Streaming must not change the facts: the request scanner and the packet collector give the
 * same result for every chunking of every fixture as for the whole body; and a huge body is
 * read with bounded memory (the scanner stops at the first LF, the collector at its cap).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { formatErrorPacket, formatServerVersionResponse, formatVtiInfPage } from '../../src/protocols/fpse-format.js';
import { FPSE_PACKET_CAP, FpsePacketCollector, parseFpsePacket } from '../../src/protocols/fpse-packet.js';
import { decodeFpseFirstLine, FPSE_FIRST_LINE_CAP, FpseRequestScanner } from '../../src/protocols/fpse-request.js';
import { parseVtiInf } from '../../src/protocols/fpse-vti-inf.js';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/fixtures/fpse');
const load = (prefix: string): Array<[string, Buffer]> =>
  readdirSync(dir)
    .filter((n) => n.startsWith(prefix))
    .sort()
    .map((n) => [n, readFileSync(join(dir, n))]);

/** Cut points (sorted, unique, inside the body) to split it into chunks. */
function chunksOf(body: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...points, body.length]) {
    chunks.push(body.subarray(start, p)); // empty chunks included on purpose
    start = p;
  }
  return chunks;
}

const cutsArb = fc.array(fc.nat({ max: 1 << 20 }), { maxLength: 40 });

describe('FPSE streaming parsers are chunking-independent (property)', () => {
  // Besides the fixtures: a first line over the scanner's cap and a packet over the collector's.
  const requests: Array<[string, Buffer]> = [
    ...load('req-'),
    ['generated: first line over 64 KiB', Buffer.from(`method=put+document%3a12%2e0%2e0%2e6211&document=${'x'.repeat(FPSE_FIRST_LINE_CAP)}\ntail`)],
  ];
  const packets: Array<[string, Buffer]> = [
    ...load('resp-'),
    ['generated: packet over 256 KiB', Buffer.concat([readFileSync(join(dir, 'resp-open-service.txt')), Buffer.alloc(FPSE_PACKET_CAP, 0x0a)])],
  ];
  it('has fixtures', () => {
    assert.ok(requests.length >= 10);
    assert.ok(packets.length >= 10);
  });

  for (const [name, body] of requests) {
    it(`FpseRequestScanner: ${name}`, () => {
      const whole = decodeFpseFirstLine(body);
      fc.assert(
        fc.property(cutsArb, (cuts) => {
          const scanner = new FpseRequestScanner();
          for (const chunk of chunksOf(body, cuts)) scanner.push(chunk);
          assert.deepEqual(scanner.end(), whole);
        }),
        { numRuns: 150 },
      );
    });
  }

  for (const [name, body] of packets) {
    it(`FpsePacketCollector: ${name}`, () => {
      const whole = parseFpsePacket(body);
      fc.assert(
        fc.property(cutsArb, (cuts) => {
          const collector = new FpsePacketCollector();
          for (const chunk of chunksOf(body, cuts)) collector.push(chunk);
          assert.deepEqual(collector.result(), whole);
        }),
        { numRuns: 150 },
      );
    });
  }

  it('byte-at-a-time gives the same facts as the whole body', () => {
    for (const [, body] of requests) {
      const scanner = new FpseRequestScanner();
      for (let i = 0; i < body.length; i++) if (scanner.push(body.subarray(i, i + 1))) break;
      assert.deepEqual(scanner.end(), decodeFpseFirstLine(body));
    }
    for (const [, body] of packets) {
      const collector = new FpsePacketCollector();
      for (let i = 0; i < body.length; i++) collector.push(body.subarray(i, i + 1));
      assert.deepEqual(collector.result(), parseFpsePacket(body));
    }
  });
});

describe('FPSE parsers hold bounded memory on a 50 MB body', () => {
  const TOTAL = 50 * 1024 * 1024;
  const CHUNK = 64 * 1024;
  // One reused chunk of document bytes: the test itself never holds 50 MB.
  const filler = Buffer.alloc(CHUNK, 0x41);
  for (let i = 0; i < CHUNK; i += 97) filler[i] = 0x0a;

  it('the request scanner stops after the first line of a 50 MB put document', () => {
    const head = readFileSync(join(dir, 'req-put-document.bin'));
    const scanner = new FpseRequestScanner();
    let pushed = 0;
    let needed = true;
    if (scanner.push(head)) needed = false;
    pushed += head.length;
    while (needed && pushed < TOTAL) {
      needed = !scanner.push(filler);
      pushed += filler.length;
    }
    assert.equal(pushed, head.length, 'no chunk after the one holding the first LF is needed');
    // Pushing the rest anyway changes nothing and keeps nothing.
    for (let sent = pushed; sent < TOTAL; sent += CHUNK) assert.equal(scanner.push(filler), true);
    assert.equal(scanner.bytesKept, head.indexOf(0x0a));
    assert.equal(scanner.result().method, 'put document');
    assert.ok(scanner.bytesKept <= FPSE_FIRST_LINE_CAP);
  });

  it('the request scanner gives up on a 50 MB first line at the cap', () => {
    const noLf = Buffer.alloc(CHUNK, 0x61);
    const scanner = new FpseRequestScanner();
    let pushed = 0;
    while (pushed < TOTAL && !scanner.push(noLf)) pushed += CHUNK;
    assert.ok(pushed <= FPSE_FIRST_LINE_CAP, `stopped after ${pushed} bytes`);
    assert.equal(scanner.bytesKept, FPSE_FIRST_LINE_CAP);
    assert.match(scanner.result().problems[0]!, /^first line longer than 64 KiB/);
  });

  it('the packet collector keeps at most its cap of a 50 MB response and reports it', () => {
    const head = readFileSync(join(dir, 'resp-server-version-sp2010.txt'));
    const collector = new FpsePacketCollector();
    const before = process.memoryUsage().arrayBuffers;
    collector.push(head);
    for (let sent = head.length; sent < TOTAL; sent += CHUNK) collector.push(filler);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.equal(collector.bytesKept, FPSE_PACKET_CAP);
    assert.ok(grown < 8 * 1024 * 1024, `array buffers grew by ${grown} bytes`);
    const f = collector.result();
    assert.equal(f.method, 'server version');
    assert.ok(f.bytes >= TOTAL);
    assert.match(f.problems[0]!, /^packet larger than 256 KiB \(\d+ bytes\) — parsed only the first 256 KiB/);
  });
});

describe('FPSE parsers read what fpse-format.ts writes (property)', () => {
  const part = fc.nat({ max: 99999 });
  const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !/[\r\n]/.test(s));

  it('server version packets', () => {
    fc.assert(
      fc.property(fc.tuple(part, part, part, part), fc.option(fc.tuple(part, part, part, part), { nil: undefined }), fc.option(fc.nat({ max: 1 }), { nil: undefined }), (server, echo, sourceControl) => {
        const version = echo?.join('.');
        const body = Buffer.from(formatServerVersionResponse({ server, ...(version === undefined ? {} : { version }), ...(sourceControl === undefined ? {} : { sourceControl }) }));
        const f = parseFpsePacket(body);
        assert.deepEqual(f.problems, []);
        assert.equal(f.method, 'server version');
        assert.deepEqual(f.methodVersion?.ok ? f.methodVersion.version.parts : undefined, echo);
        if (version !== undefined) assert.equal(body.toString('latin1', f.methodVersionSpan!.offset, f.methodVersionSpan!.offset + f.methodVersionSpan!.length), version);
        assert.deepEqual([f.serverVersion?.major, f.serverVersion?.minor, f.serverVersion?.phase, f.serverVersion?.incr], server);
        assert.equal(f.sourceControl, sourceControl === undefined ? undefined : String(sourceControl));
      }),
    );
  });

  it('error packets, with any message text', () => {
    const code = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    fc.assert(
      fc.property(code, fc.nat({ max: 2 ** 31 - 1 }), text, text, (status, osstatus, msg, osmsg) => {
        const f = parseFpsePacket(Buffer.from(formatErrorPacket({ method: 'put document', version: '12.0.0.6415', status, osstatus, msg, osmsg })));
        assert.equal(f.isError, true);
        assert.equal(f.method, 'put document');
        assert.equal(f.status?.status, status);
        assert.equal(f.status?.hex, `0x${(status >>> 0).toString(16).toUpperCase().padStart(8, '0')}`);
        assert.equal(f.status?.osstatus, osstatus);
        assert.equal(f.status?.msg, msg);
        assert.equal(f.status?.osmsg, osmsg);
      }),
    );
  });

  it('_vti_inf.html pages', () => {
    const version = fc.tuple(part, part, part, part).map((p) => p.join('.'));
    const url = fc.stringMatching(/^[A-Za-z0-9_./]{1,40}$/);
    fc.assert(
      fc.property(version, url, url, (v, shtml, author) => {
        const f = parseVtiInf(formatVtiInfPage({ version: v, shtmlScriptUrl: shtml, authorScriptUrl: author }));
        assert.deepEqual(f.problems, []);
        assert.equal(f.fpVersionText, v);
        assert.equal(f.scripts.FPShtmlScriptUrl, shtml);
        assert.equal(f.scripts.FPAuthorScriptUrl, author);
      }),
    );
  });
});

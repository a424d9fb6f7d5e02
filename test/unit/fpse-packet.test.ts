import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { VersionResult } from '../../src/core/version.js';
import { FPSE_PACKET_CAP, FpsePacketCollector, fpseStatusHex, parseFpsePacket } from '../../src/protocols/fpse-packet.js';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/fixtures/fpse');
const fixture = (name: string): Buffer => readFileSync(join(dir, name));

function parts(v: VersionResult | undefined): readonly number[] | undefined {
  assert.ok(v?.ok, `expected a version, got ${JSON.stringify(v)}`);
  return v.version.parts;
}

describe('FPSE response packet (§2.3, §2.4)', () => {
  for (const name of ['resp-server-version-sp2010.txt', 'resp-server-version-sp2010-crlf.txt', 'resp-server-version-one-line.txt']) {
    it(`reads the SharePoint 2010 answer: Min on the method line, real build in the list (${name})`, () => {
      const body = fixture(name);
      const f = parseFpsePacket(body);
      assert.equal(f.method, 'server version');
      assert.deepEqual(parts(f.methodVersion), [12, 0, 0, 6415]);
      assert.deepEqual(
        { major: f.serverVersion?.major, minor: f.serverVersion?.minor, phase: f.serverVersion?.phase, incr: f.serverVersion?.incr },
        { major: 14, minor: 0, phase: 0, incr: 6029 },
      );
      assert.deepEqual(parts(f.serverVersion?.version), [14, 0, 0, 6029]);
      assert.equal(f.sourceControl, '1');
      assert.equal(f.isError, false);
      assert.equal(f.status, undefined);
      assert.equal(f.bytes, body.length);
      assert.deepEqual(f.problems, []);
      // The spans point at the bytes an action would rewrite.
      const span = f.methodVersionSpan!;
      assert.equal(body.subarray(span.offset, span.offset + span.length).toString(), '12.0.0.6415');
      const incr = f.serverVersion!.spans.incr!;
      assert.equal(body.subarray(incr.offset, incr.offset + incr.length).toString(), '6029');
    });
  }

  it('reads FP2002\'s version-less method line without source control (§4.8)', () => {
    const f = parseFpsePacket(fixture('resp-server-version-fp2002.txt'));
    assert.equal(f.method, 'server version');
    assert.equal(f.methodVersion, undefined);
    assert.equal(f.methodVersionSpan, undefined);
    assert.deepEqual(parts(f.serverVersion?.version), [5, 0, 2, 6790]);
    assert.equal(f.sourceControl, undefined);
    assert.deepEqual(f.problems, []);
  });

  it('reads WSS 2.0\'s normalised echo and Alfresco\'s fixed answer (§2.3)', () => {
    const wss = parseFpsePacket(fixture('resp-server-version-wss2.txt'));
    assert.deepEqual(parts(wss.methodVersion), [6, 0, 0, 0]);
    assert.deepEqual(parts(wss.serverVersion?.version), [6, 0, 2, 5528]);
    assert.equal(wss.sourceControl, '1');
    const alfresco = parseFpsePacket(fixture('resp-server-version-alfresco.txt'));
    assert.deepEqual(parts(alfresco.methodVersion), [14, 0, 0, 4730]);
    assert.deepEqual(parts(alfresco.serverVersion?.version), [14, 0, 0, 4730]);
  });

  it('reads open service with nested meta-info lists (§4.10)', () => {
    const f = parseFpsePacket(fixture('resp-open-service.txt'));
    assert.equal(f.method, 'open service');
    assert.deepEqual(parts(f.methodVersion), [12, 0, 0, 6415]);
    assert.equal(f.serverVersion, undefined);
    assert.equal(f.isError, false);
    assert.deepEqual(f.problems, []);
  });

  it('reads the client-too-old error: 262156 = 0x0004000C V_RPC_CLIENT_TOO_OLD (§2.5, §4.11)', () => {
    const f = parseFpsePacket(fixture('resp-error-client-too-old.txt'));
    assert.equal(f.isError, true);
    assert.deepEqual(f.status, {
      status: 262156,
      hex: '0x0004000C',
      name: 'V_RPC_CLIENT_TOO_OLD',
      meaning: 'client version older than 4.0.2.2611 (MS-FPSE 1.7.1)',
      osstatus: 0,
      msg: 'The client is too old to talk to this server (4.0.2.2611 & later).',
      osmsg: '',
    });
    assert.deepEqual(f.problems, []);
  });

  it('reads a CRLF error packet with an Alfresco code', () => {
    const f = parseFpsePacket(fixture('resp-error-bad-url.txt'));
    assert.equal(f.method, 'get document');
    assert.equal(f.status?.status, 589829);
    assert.equal(f.status?.hex, '0x00090005');
    assert.equal(f.status?.name, 'V_BAD_URL');
    assert.equal(f.status?.msg, 'The provided URL is invalid.');
  });

  it('reports a truncated packet but keeps what it read', () => {
    const f = parseFpsePacket(fixture('resp-server-version-truncated.txt'));
    assert.deepEqual(parts(f.methodVersion), [12, 0, 0, 6415]);
    assert.equal(f.serverVersion?.phase, 0);
    assert.equal(f.serverVersion?.version, undefined);
    assert.deepEqual(f.problems, [
      'truncated packet: no </html>',
      'truncated packet: 1 <ul> list(s) not closed',
      'server version list lacks ver incr (§2.3)',
    ]);
  });

  it('reports binary garbage without throwing', () => {
    const f = parseFpsePacket(fixture('resp-binary-garbage.bin'));
    assert.equal(f.method, undefined);
    assert.ok(f.problems.some((p) => p.startsWith('binary data in the packet')), f.problems.join('; '));
    assert.ok(f.problems.includes('no method= line (§2.4: the first line of every packet)'));
    assert.deepEqual(parseFpsePacket(Buffer.alloc(0)).problems, ['empty packet']);
  });

  it('reports a ten-part method-line version', () => {
    const f = parseFpsePacket(fixture('resp-server-version-ten-part.txt'));
    assert.equal(f.methodVersion?.ok, false);
    assert.match(f.problems[0]!, /^method line version "12\.0\.0\.6415\.1\.2\.3\.4\.5\.6" has 10 numbers/);
    assert.deepEqual(parts(f.serverVersion?.version), [14, 0, 0, 6029]);
  });

  it('accepts the SDK\'s "verincr" with a note, a flat status, negative and unknown codes', () => {
    const verincr = parseFpsePacket(Buffer.from('<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=server version:6.0.2.5614\n<p>server version=\n<ul>\n<li>major ver=6\n<li>minor ver=0\n<li>phase ver=2\n<li>verincr=5528\n</ul>\n</body>\n</html>\n'));
    assert.deepEqual(parts(verincr.serverVersion?.version), [6, 0, 2, 5528]);
    assert.match(verincr.problems[0]!, /"verincr"/);
    const flat = parseFpsePacket(Buffer.from('<html><head><title>vermeer RPC packet</title></head><body><p>method=remove documents:12.0.0.6415<p>status=-1</body></html>'));
    assert.deepEqual(flat.status, { status: -1, hex: '0xFFFFFFFF' });
    assert.equal(fpseStatusHex(0x80131600), '0x80131600');
    assert.equal(fpseStatusHex(10), '0x0000000A');
  });

  it('reports a packet that is not a vermeer RPC packet, and a status list without a code', () => {
    const f = parseFpsePacket(Buffer.from('<html><head><title>Error</title></head><body><p>status=\n<ul>\n<li>msg=x\n</ul></body></html>'));
    assert.equal(f.isError, true);
    assert.equal(f.status, undefined);
    assert.deepEqual(f.problems, [
      'title is "Error", not "vermeer RPC packet" (§2.4)',
      'no method= line (§2.4: the first line of every packet)',
      'status list without a numeric status= item (§2.5)',
    ]);
  });

  it('caps what it parses and says so', () => {
    const body = Buffer.concat([fixture('resp-server-version-sp2010.txt'), Buffer.alloc(FPSE_PACKET_CAP, 0x20)]);
    const f = parseFpsePacket(body);
    assert.deepEqual(parts(f.methodVersion), [12, 0, 0, 6415]);
    assert.equal(f.bytes, body.length);
    assert.match(f.problems[0]!, /^packet larger than 256 KiB/);
    const collector = new FpsePacketCollector();
    collector.push(body);
    assert.equal(collector.bytesKept, FPSE_PACKET_CAP);
    assert.deepEqual(collector.result(), f);
  });
});

/**
 * The clientVersion and serverVersion rewrites of FPSE bodies (docs/protocols.md §2.2, §2.3, §4.7–§4.12):
 * only the version bytes change, in the client's or server's own spelling, and what comes out
 * parses back to the new facts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseVersion, type Version, type VersionResult } from '../../src/core/version.js';
import { FPSE_PACKET_CAP, parseFpsePacket } from '../../src/protocols/fpse-packet.js';
import { decodeFpseFirstLine } from '../../src/protocols/fpse-request.js';
import { parseVtiInf } from '../../src/protocols/fpse-vti-inf.js';
import { rewriteFpseClientVersion } from '../../src/rules/rewrite-fpse-request.js';
import { rewriteFpseServerVersion, rewriteVtiInfVersion } from '../../src/rules/rewrite-fpse-response.js';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/fixtures/fpse');
const fixture = (name: string): Buffer => readFileSync(join(dir, name));
const text = (name: string): string => fixture(name).toString('latin1');

function v(s: string): Version {
  const parsed = parseVersion(s);
  assert.ok(parsed.ok, s);
  return parsed.version;
}

function parts(r: VersionResult | undefined): readonly number[] | undefined {
  assert.ok(r?.ok, `expected a version, got ${JSON.stringify(r)}`);
  return r.version.parts;
}

/** The first line of a body (without its LF) and everything from the LF on. */
function splitFirstLine(body: Buffer): [Buffer, Buffer] {
  const lf = body.indexOf(0x0a);
  return lf < 0 ? [body, Buffer.alloc(0)] : [body.subarray(0, lf), body.subarray(lf)];
}

function rewriteLine(line: string, version: string): { line: string; before?: string; after?: string } {
  const out = rewriteFpseClientVersion(Buffer.from(line, 'latin1'), version);
  assert.ok('line' in out, `expected a rewrite, got ${JSON.stringify(out)}`);
  assert.equal(out.change.action, 'clientVersion');
  assert.equal(out.change.target, 'request body: method');
  return { line: out.line.toString('latin1'), ...(out.change.before === undefined ? {} : { before: out.change.before }), after: out.change.after! };
}

describe('rewriteFpseClientVersion: the request method value (§2.2)', () => {
  it('keeps Office\'s lower-case escapes (§4.9)', () => {
    const out = rewriteLine(text('req-server-version-office.txt'), '6.0.2.5523');
    assert.deepEqual(out, { line: 'method=server+version%3a6%2e0%2e2%2e5523', before: '12.0.0.6415', after: '6.0.2.5523' });
  });

  it('keeps upper-case escapes and a %20 space', () => {
    const out = rewriteLine(text('req-server-version-upper-hex.txt'), '12.0.0.6415');
    assert.equal(out.line, 'method=server%20version%3A12%2E0%2E0%2E6415&service%5Fname=%2F');
    assert.equal(out.before, '6.0.2.5523');
  });

  it('keeps the plain `:` and `.` of SDK clients (§2.2)', () => {
    const out = rewriteLine(text('req-server-version-sdk.txt'), '4.0.2.2000');
    assert.equal(out.line, 'method=server+version:4.0.2.2000&service_name=/');
    assert.equal(out.before, '6.0.2.5614');
  });

  it('keeps a mix: escaped colon, plain dots (ExtJS client)', () => {
    const out = rewriteLine(text('req-move-document-extjs.txt'), '14.0.0.4762');
    assert.equal(out.line, text('req-move-document-extjs.txt').replace('%3a12.0.4518.1016', '%3a14.0.0.4762'));
  });

  it('appends a version to a version-less method: plain on a plain line (§4.7, §4.8)', () => {
    const out = rewriteLine(text('req-server-version-bare.txt'), '6.0.2.5523');
    assert.deepEqual(out, { line: 'method=server+version:6.0.2.5523', after: '6.0.2.5523' });
  });

  it('appends in the escaped style the rest of the line uses', () => {
    assert.equal(rewriteLine('method=server+version&service%5fname=%2f', '6.0.2.5523').line, 'method=server+version%3a6%2e0%2e2%2e5523&service%5fname=%2f');
    assert.equal(rewriteLine('method=open%20service&service%5Fname=%2F', '6.0.2.5523').line, 'method=open%20service%3A6%2E0%2E2%2E5523&service%5Fname=%2F');
  });

  it('keeps a trailing CR, after the last parameter or after the method value itself', () => {
    const [line] = splitFirstLine(fixture('req-open-service-metasploit-crlf.txt'));
    assert.equal(rewriteLine(line.toString('latin1'), '6.0.2.5523').line, 'method=open+service:6.0.2.5523&service_name=/\r');
    assert.equal(rewriteLine('method=server+version%3a12%2e0%2e0%2e6415\r', '4.0.2.2611').line, 'method=server+version%3a4%2e0%2e2%2e2611\r');
    assert.equal(rewriteLine('method=server+version\r', '4.0.2.2611').line, 'method=server+version:4.0.2.2611\r');
  });

  it('replaces what the client sent even when it is no version: nmap\'s FPVersion="…", ten numbers', () => {
    const nmap = rewriteLine(text('req-open-service-nmap.txt'), '5.0.2.6790');
    assert.equal(nmap.line, 'method=open+service:5.0.2.6790&service_name=/');
    assert.equal(nmap.before, 'FPVersion="5.0.2.2623"');
    const ten = rewriteLine(text('req-ten-part-version.txt'), '12.0.0.6415');
    assert.equal(ten.line, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.equal(ten.before, '12.0.0.6415.1.2.3.4.5.6');
  });

  it('rewrites the put document first line and leaves the document bytes to the caller (§4.12)', () => {
    const body = fixture('req-put-document.bin');
    const [line, tail] = splitFirstLine(body);
    const out = rewriteFpseClientVersion(line, '14.0.0.4762');
    assert.ok('line' in out);
    const expected = line.toString('latin1').replace('put+document%3a12%2e0%2e0%2e6211', 'put+document%3a14%2e0%2e0%2e4762');
    assert.equal(out.line.toString('latin1'), expected);
    const rebuilt = Buffer.concat([out.line, tail]);
    const before = decodeFpseFirstLine(body);
    const after = decodeFpseFirstLine(rebuilt);
    assert.deepEqual(parts(after.clientVersion), [14, 0, 0, 4762]);
    assert.deepEqual(after.params, before.params);
    assert.equal(rebuilt.subarray(out.line.length).equals(tail), true);
  });

  it('rewrites a first line far longer than the decoder reads, keeping its document=[…] bytes', () => {
    const document = `&document=%5bdocument%5fname%3d${'x'.repeat(100_000)}%2edoc%5d&put%5foption=edit`;
    const line = Buffer.from(`method=put+document%3a12%2e0%2e0%2e6211&service%5fname=%2f${document}`, 'latin1');
    const out = rewriteFpseClientVersion(line, '6.0.2.5523');
    assert.ok('line' in out);
    assert.equal(out.line.toString('latin1'), `method=put+document%3a6%2e0%2e2%2e5523&service%5fname=%2f${document}`);
  });

  it('keeps non-ASCII bytes elsewhere on the line as they were', () => {
    const line = Buffer.concat([Buffer.from('method=put+document:12.0.0.6211&name='), Buffer.from([0xc3, 0xa9, 0xff])]);
    const out = rewriteFpseClientVersion(line, '6.0.2.5523');
    assert.ok('line' in out);
    assert.deepEqual(out.line, Buffer.concat([Buffer.from('method=put+document:6.0.2.5523&name='), Buffer.from([0xc3, 0xa9, 0xff])]));
  });

  it('gives a problem sentence for a line without method= or with an empty one', () => {
    for (const line of [fixture('req-no-method.txt'), Buffer.alloc(0), Buffer.from('\r'), Buffer.from('method=&service_name=/')]) {
      const out = rewriteFpseClientVersion(line, '6.0.2.5523');
      assert.ok('problem' in out, line.toString());
      assert.match(out.problem, /method=/);
    }
  });

  it('refuses a version that is not four numbers', () => {
    const out = rewriteFpseClientVersion(fixture('req-server-version-office.txt'), '6.0');
    assert.ok('problem' in out);
    assert.match(out.problem, /^clientVersion "6.0" needs four numbers/);
  });
});

describe('rewriteFpseClientVersion (property)', () => {
  const part = fc.oneof(fc.nat(20), fc.nat(99_999));
  const version = fc.tuple(part, part, part, part).map((p) => p.join('.'));
  const style = fc.record({
    space: fc.constantFrom('+', '%20'),
    colon: fc.constantFrom(':', '%3a', '%3A'),
    dot: fc.constantFrom('.', '%2e', '%2E'),
  });
  const method = fc.constantFrom('server version', 'open service', 'put document', 'url to web url', 'getDocsMetaInfo');
  const params = fc.constantFrom('', '&service_name=/', '&service%5fname=%2f', '&service%5Fname=%2F&x=1%2e2', '&document=%5bdocument%5fname%3da%2edoc%5d&put%5foption=edit');

  it('decodes to the new version, and only the method value\'s version bytes change', () => {
    fc.assert(
      fc.property(style, method, fc.option(version, { nil: undefined }), version, params, fc.boolean(), (s, name, old, wanted, rest, cr) => {
        const head = `method=${name.replace(/ /g, s.space)}`;
        const oldPart = old === undefined ? '' : `${s.colon}${old.split('.').join(s.dot)}`;
        const tail = `${rest}${cr ? '\r' : ''}`;
        const out = rewriteFpseClientVersion(Buffer.from(`${head}${oldPart}${tail}`, 'latin1'), wanted);
        assert.ok('line' in out);
        const line = out.line.toString('latin1');
        assert.ok(line.startsWith(head), line);
        assert.ok(line.endsWith(tail), line);
        // With a version to copy from, the new one is spelled exactly the same way.
        if (old !== undefined) assert.equal(line.slice(head.length, line.length - tail.length), `${s.colon}${wanted.split('.').join(s.dot)}`);
        const facts = decodeFpseFirstLine(out.line);
        assert.equal(facts.method, name);
        assert.deepEqual(parts(facts.clientVersion), wanted.split('.').map(Number));
        assert.deepEqual(out.change, { action: 'clientVersion', target: 'request body: method', ...(old === undefined ? {} : { before: old }), after: wanted });
      }),
    );
  });
});

describe('rewriteFpseServerVersion: the server version packet (§2.3, MS-FPSE 1.7.1)', () => {
  /** Rewrites, checks the result parses back with the same problems (or `problems`), returns body text and changes. */
  function rewrite(name: string, opts: Parameters<typeof rewriteFpseServerVersion>[1], problems?: string[]) {
    const packet = fixture(name);
    const out = rewriteFpseServerVersion(packet, opts);
    assert.ok('body' in out, `expected a rewrite of ${name}, got ${JSON.stringify(out)}`);
    assert.deepEqual(parseFpsePacket(out.body).problems, problems ?? parseFpsePacket(packet).problems);
    return { text: out.body.toString('latin1'), facts: parseFpsePacket(out.body), changes: out.changes };
  }

  for (const name of ['resp-server-version-sp2010.txt', 'resp-server-version-sp2010-crlf.txt', 'resp-server-version-one-line.txt']) {
    it(`poses as WSS 2.0 for Office 12 (§4.9): Min on the method line, the build in the list (${name})`, () => {
      const out = rewrite(name, { version: '6.0.2.5523', clientVersion: v('12.0.0.6415') });
      const expected = text(name)
        .replace('server version:12.0.0.6415', 'server version:6.0.2.5523')
        .replace('major ver=14', 'major ver=6')
        .replace('phase ver=0', 'phase ver=2')
        .replace('ver incr=6029', 'ver incr=5523');
      assert.equal(out.text, expected);
      assert.deepEqual(parts(out.facts.methodVersion), [6, 0, 2, 5523]);
      assert.deepEqual(parts(out.facts.serverVersion?.version), [6, 0, 2, 5523]);
      assert.equal(out.facts.sourceControl, '1');
      assert.deepEqual(out.changes, [
        { action: 'serverVersion', target: 'response body: method line', before: '12.0.0.6415', after: '6.0.2.5523' },
        { action: 'serverVersion', target: 'response body: server version', before: '14.0.0.6029', after: '6.0.2.5523' },
      ]);
    });
  }

  it('keeps CRLF line ends', () => {
    const out = rewrite('resp-server-version-sp2010-crlf.txt', { version: '15.0.0.4420' });
    assert.equal(out.text.split('\r\n').length, text('resp-server-version-sp2010-crlf.txt').split('\r\n').length);
    assert.equal(out.text.replace(/\r\n/g, '').includes('\n'), false);
  });

  it('writes the client\'s version on the method line when the client is older (Min)', () => {
    const out = rewrite('resp-server-version-sp2010.txt', { version: '15.0.0.4420', clientVersion: v('12.0.0.6415') });
    assert.deepEqual(parts(out.facts.methodVersion), [12, 0, 0, 6415]);
    assert.deepEqual(parts(out.facts.serverVersion?.version), [15, 0, 0, 4420]);
  });

  it('writes the new version on the method line when the client is newer (Min), or unknown', () => {
    const newer = rewrite('resp-server-version-sp2010.txt', { version: '14.0.0.6029', clientVersion: v('16.0.0.4327') });
    assert.deepEqual(parts(newer.facts.methodVersion), [14, 0, 0, 6029]);
    const unknown = rewrite('resp-server-version-sp2010.txt', { version: '5.0.2.6790' });
    assert.deepEqual(parts(unknown.facts.methodVersion), [5, 0, 2, 6790]);
  });

  it('only: method-line leaves the list; only: server-list leaves the method line', () => {
    const method = rewrite('resp-server-version-sp2010.txt', { version: '6.0.2.5523', only: 'method-line' });
    assert.equal(method.text, text('resp-server-version-sp2010.txt').replace('server version:12.0.0.6415', 'server version:6.0.2.5523'));
    assert.deepEqual(method.changes.map((c) => c.target), ['response body: method line']);
    const list = rewrite('resp-server-version-sp2010.txt', { version: '6.0.2.5523', only: 'server-list', clientVersion: v('4.0.2.2611') });
    assert.deepEqual(parts(list.facts.methodVersion), [12, 0, 0, 6415]);
    assert.deepEqual(parts(list.facts.serverVersion?.version), [6, 0, 2, 5523]);
    assert.deepEqual(list.changes.map((c) => c.target), ['response body: server version']);
  });

  it('leaves FP2002\'s version-less method line without a version (§4.8)', () => {
    const out = rewrite('resp-server-version-fp2002.txt', { version: '6.0.2.5528', clientVersion: v('5.0.2.6790') });
    assert.equal(out.facts.methodVersion, undefined);
    assert.match(out.text, /<p>method=server version\n/);
    assert.deepEqual(parts(out.facts.serverVersion?.version), [6, 0, 2, 5528]);
    assert.deepEqual(out.changes, [{ action: 'serverVersion', target: 'response body: server version', before: '5.0.2.6790', after: '6.0.2.5528' }]);
    const onlyMethod = rewrite('resp-server-version-fp2002.txt', { version: '6.0.2.5528', only: 'method-line' });
    assert.equal(onlyMethod.text, text('resp-server-version-fp2002.txt'));
    assert.deepEqual(onlyMethod.changes, []);
  });

  it('rewrites WSS 2.0\'s normalised echo and Alfresco\'s fixed answer (§2.3)', () => {
    const wss = rewrite('resp-server-version-wss2.txt', { version: '14.0.0.6029', clientVersion: v('12.0.0.6415') });
    assert.deepEqual(parts(wss.facts.methodVersion), [12, 0, 0, 6415]);
    assert.deepEqual(parts(wss.facts.serverVersion?.version), [14, 0, 0, 6029]);
    const alfresco = rewrite('resp-server-version-alfresco.txt', { version: '12.0.0.4518' });
    assert.deepEqual(parts(alfresco.facts.methodVersion), [12, 0, 0, 4518]);
    assert.deepEqual(parts(alfresco.facts.serverVersion?.version), [12, 0, 0, 4518]);
  });

  it('replaces an unreadable method line version (ten numbers) and records it as it was', () => {
    const out = rewrite('resp-server-version-ten-part.txt', { version: '14.0.0.6029', clientVersion: v('12.0.0.6415') }, []);
    assert.deepEqual(parts(out.facts.methodVersion), [12, 0, 0, 6415]);
    assert.equal(out.changes[0]?.before, '12.0.0.6415.1.2.3.4.5.6');
  });

  it('rewrites the method line of other packets: open service, an error (§4.10, §4.11)', () => {
    const open = rewrite('resp-open-service.txt', { version: '6.0.2.5523', clientVersion: v('12.0.0.6415') });
    assert.equal(open.text, text('resp-open-service.txt').replace('open service:12.0.0.6415', 'open service:6.0.2.5523'));
    const error = rewrite('resp-error-bad-url.txt', { version: '6.0.2.5523' });
    assert.equal(error.text, text('resp-error-bad-url.txt').replace('get document:12.0.0.6415', 'get document:6.0.2.5523'));
    assert.equal(error.facts.status?.status, 589829);
  });

  it('returns the body unchanged when there is nothing to rewrite', () => {
    const packet = Buffer.from('<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=list documents\n<p>document_list=\n<ul>\n</ul>\n</body>\n</html>\n');
    const out = rewriteFpseServerVersion(packet, { version: '6.0.2.5523' });
    assert.ok('body' in out);
    assert.equal(out.body.equals(packet), true);
    assert.deepEqual(out.changes, []);
  });

  it('refuses a list that lacks numbers: a truncated packet (unless only the method line is asked for)', () => {
    const out = rewriteFpseServerVersion(fixture('resp-server-version-truncated.txt'), { version: '6.0.2.5523' });
    assert.ok('problem' in out);
    assert.match(out.problem, /lacks ver incr/);
    const method = rewrite('resp-server-version-truncated.txt', { version: '6.0.2.5523', only: 'method-line' });
    assert.deepEqual(parts(method.facts.methodVersion), [6, 0, 2, 5523]);
  });

  it('refuses what is not a packet, an oversized body and a bad version', () => {
    for (const body of [fixture('resp-binary-garbage.bin'), fixture('vti-inf-no-block.html'), Buffer.alloc(0)]) {
      const out = rewriteFpseServerVersion(body, { version: '6.0.2.5523' });
      assert.ok('problem' in out);
      assert.match(out.problem, /not a vermeer RPC packet/);
    }
    const big = Buffer.concat([fixture('resp-server-version-sp2010.txt'), Buffer.alloc(FPSE_PACKET_CAP, 0x0a)]);
    assert.ok('problem' in rewriteFpseServerVersion(big, { version: '6.0.2.5523' }));
    const bad = rewriteFpseServerVersion(fixture('resp-server-version-sp2010.txt'), { version: 'Exchange/15.0.0.1' });
    assert.ok('problem' in bad);
    assert.match(bad.problem, /product prefix/);
  });
});

describe('rewriteVtiInfVersion: FPVersion in _vti_inf.html (§2.1)', () => {
  for (const [name, old] of [
    ['vti-inf-liferay.html', '6.0.2.9999'],
    ['vti-inf-sharepoint-2013-crlf.html', '15.00.0.000'],
    ['vti-inf-unix-fpse2002.html', '5.0.2.4330'],
  ] as const) {
    it(`rewrites only the FPVersion value, written as given (${name})`, () => {
      const out = rewriteVtiInfVersion(fixture(name), '16.00.0.000');
      assert.ok('body' in out);
      assert.equal(out.body.toString('latin1'), text(name).replace(`FPVersion="${old}"`, 'FPVersion="16.00.0.000"'));
      const facts = parseVtiInf(out.body);
      assert.equal(facts.fpVersionText, '16.00.0.000');
      assert.deepEqual(facts.problems, parseVtiInf(fixture(name)).problems);
      assert.deepEqual(out.changes, [{ action: 'serverVersion', target: 'response body: FPVersion', before: old, after: '16.00.0.000' }]);
    });
  }

  it('refuses a page without FPVersion, and a bad version', () => {
    const none = rewriteVtiInfVersion(fixture('vti-inf-no-block.html'), '6.0.2.5523');
    assert.ok('problem' in none);
    assert.match(none.problem, /no FPVersion/);
    assert.ok('problem' in rewriteVtiInfVersion(fixture('vti-inf-liferay.html'), '6.0.2'));
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { VersionResult } from '../../src/core/version.js';
import {
  decodeFpseFirstLine,
  FPSE_FIRST_LINE_CAP,
  FpseRequestScanner,
} from '../../src/protocols/fpse-request.js';
import { encodeFpseVersion, rewriteFpseMethodValue } from '../../src/protocols/fpse-encoding.js';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/fixtures/fpse');
const fixture = (name: string): Buffer => readFileSync(join(dir, name));

function parts(v: VersionResult | undefined): readonly number[] | undefined {
  assert.ok(v?.ok, `expected a version, got ${JSON.stringify(v)}`);
  return v.version.parts;
}

describe('FPSE request first line (§2.2)', () => {
  it('decodes the bare server version call: no version, no problems (§4.8)', () => {
    const f = decodeFpseFirstLine(fixture('req-server-version-bare.txt'));
    assert.equal(f.method, 'server version');
    assert.equal(f.clientVersion, undefined);
    assert.equal(f.rawMethodValue, 'server+version');
    assert.equal(f.methodValueOffset, 7);
    assert.equal(f.methodValueLength, 14);
    assert.deepEqual(f.params, []);
    assert.equal(f.firstLineBytes, 21);
    assert.equal(f.complete, true);
    assert.deepEqual(f.problems, []);
  });

  it('decodes Office\'s escaped form (§4.9) and records its style', () => {
    const body = fixture('req-server-version-office.txt');
    const f = decodeFpseFirstLine(body);
    assert.equal(f.method, 'server version');
    assert.deepEqual(parts(f.clientVersion), [12, 0, 0, 6415]);
    assert.equal(body.subarray(f.methodValueOffset, f.methodValueOffset! + f.methodValueLength!).toString(), 'server+version%3a12%2e0%2e0%2e6415');
    assert.deepEqual(f.style, { space: '+', colon: '%3a', dot: '%2e', underscore: '%5f', guessed: ['underscore'] });
    assert.deepEqual(f.problems, []);
  });

  it('decodes the plain form and lists the other parameter names only', () => {
    const f = decodeFpseFirstLine(fixture('req-server-version-sdk.txt'));
    assert.deepEqual(parts(f.clientVersion), [6, 0, 2, 5614]);
    assert.deepEqual(f.params, ['service_name']);
    assert.deepEqual(f.style, { space: '+', colon: ':', dot: '.', underscore: '_', guessed: [] });
  });

  it('decodes upper-case escapes and %20', () => {
    const f = decodeFpseFirstLine(fixture('req-server-version-upper-hex.txt'));
    assert.equal(f.method, 'server version');
    assert.deepEqual(parts(f.clientVersion), [6, 0, 2, 5523]);
    assert.deepEqual(f.params, ['service_name']);
    assert.deepEqual(f.style, { space: '%20', colon: '%3A', dot: '%2E', underscore: '%5F', guessed: [] });
  });

  it('decodes open service as Office writes it (§4.10)', () => {
    const f = decodeFpseFirstLine(fixture('req-open-service-office.txt'));
    assert.equal(f.method, 'open service');
    assert.deepEqual(parts(f.clientVersion), [12, 0, 0, 6415]);
    assert.deepEqual(f.params, ['service_name']);
    assert.deepEqual(f.style?.guessed, []);
  });

  it('reads nmap\'s FPVersion="…" as a version problem, not a crash (§4.10)', () => {
    const f = decodeFpseFirstLine(fixture('req-open-service-nmap.txt'));
    assert.equal(f.method, 'open service');
    assert.equal(f.clientVersion?.ok, false);
    assert.equal(f.rawMethodValue, 'open+service:FPVersion="5.0.2.2623"');
    assert.deepEqual(f.params, ['service_name']);
    assert.equal(f.problems.length, 1);
    // Quoted in the quote it does not contain: no backslashes for a report to escape again.
    assert.match(f.problems[0]!, /^version 'FPVersion="5\.0\.2\.2623"' looks like a quoted FPVersion assignment/);
    assert.doesNotMatch(f.problems[0]!, /\\/);
  });

  it('ends the first line at a CRLF (Metasploit)', () => {
    const f = decodeFpseFirstLine(fixture('req-open-service-metasploit-crlf.txt'));
    assert.deepEqual(parts(f.clientVersion), [5, 0, 2, 6790]);
    assert.deepEqual(f.params, ['service_name']);
    assert.equal(f.firstLineBytes, 'method=open+service:5.0.2.6790&service_name=/\r\n'.length);
    assert.deepEqual(f.problems, []);
  });

  it('decodes MC-FPSEWM\'s get document and the mixed Ext JS style', () => {
    const get = decodeFpseFirstLine(fixture('req-get-document-fpsewm.txt'));
    assert.equal(get.method, 'get document');
    assert.deepEqual(parts(get.clientVersion), [5, 0, 2, 6738]);
    assert.deepEqual(get.params, ['service_name', 'document_name']);
    const move = decodeFpseFirstLine(fixture('req-move-document-extjs.txt'));
    assert.equal(move.method, 'move document');
    assert.deepEqual(parts(move.clientVersion), [12, 0, 4518, 1016]);
    assert.equal(move.style?.colon, '%3a');
    assert.equal(move.style?.dot, '.');
    assert.deepEqual(move.params, ['service_name', 'oldUrl', 'newUrl', 'url_list', 'rename_option', 'put_option']);
  });

  it('decodes url to web url and getDocsMetaInfo (no space in the name: space guessed)', () => {
    const url = decodeFpseFirstLine(fixture('req-url-to-web-url.txt'));
    assert.equal(url.method, 'url to web url');
    assert.deepEqual(parts(url.clientVersion), [12, 0, 0, 3820]);
    assert.deepEqual(url.params, ['url', 'flags']);
    const meta = decodeFpseFirstLine(fixture('req-getdocsmetainfo.txt'));
    assert.equal(meta.method, 'getDocsMetaInfo');
    assert.deepEqual(parts(meta.clientVersion), [14, 0, 0, 4762]);
    assert.deepEqual(meta.style?.guessed, ['space']);
  });

  it('reports a ten-part version', () => {
    const f = decodeFpseFirstLine(fixture('req-ten-part-version.txt'));
    assert.equal(f.method, 'server version');
    assert.equal(f.clientVersion?.ok, false);
    assert.match(f.problems[0]!, /^version "12\.0\.0\.6415\.1\.2\.3\.4\.5\.6" has 10 numbers/);
  });

  it('reports a body without method=', () => {
    const f = decodeFpseFirstLine(fixture('req-no-method.txt'));
    assert.equal(f.method, undefined);
    assert.deepEqual(f.params, ['service_name', 'url']);
    assert.deepEqual(f.problems, ['no method= parameter']);
    assert.deepEqual(decodeFpseFirstLine('').problems, ['empty first line: no method= parameter']);
  });

  it('reads a put document body only up to the first LF (§4.12)', () => {
    const body = fixture('req-put-document.bin');
    const f = decodeFpseFirstLine(body);
    assert.equal(f.method, 'put document');
    assert.deepEqual(parts(f.clientVersion), [12, 0, 0, 6211]);
    assert.deepEqual(f.params, ['service_name', 'document', 'put_option', 'comment', 'keep_checked_out']);
    assert.equal(f.firstLineBytes, body.indexOf(0x0a) + 1);
    assert.equal(f.complete, true);
    assert.deepEqual(f.problems, []);
    const scanner = new FpseRequestScanner();
    assert.equal(scanner.push(body), true);
    assert.equal(scanner.bytesKept, body.indexOf(0x0a));
  });

  it('reports binary data in the first line', () => {
    const f = decodeFpseFirstLine(fixture('req-binary-garbage.bin'));
    assert.equal(f.complete, true);
    assert.deepEqual(f.params, [], 'garbage names stay out of the record');
    assert.ok(f.problems.some((p) => p.startsWith('binary data in the first line')), f.problems.join('; '));
    assert.ok(f.problems.some((p) => /non-ASCII bytes/.test(p)));
  });

  it('reports bad escapes, a late method= and a repeated one', () => {
    const f = decodeFpseFirstLine('service_name=%2f&method=open+service%3a6.0.2.5523%zz&method=x');
    assert.equal(f.method, 'open service');
    assert.equal(f.clientVersion?.ok, false);
    assert.equal(f.methodValueOffset, 'service_name=%2f&method='.length);
    assert.ok(f.problems.includes('method= is parameter 2, not the first (§2.2)'));
    assert.ok(f.problems.includes('method= appears 2 times; the first is used'));
    assert.ok(f.problems.some((p) => p.includes('"%" not followed by two hex digits')));
  });

  it('lists at most 100 parameter names', () => {
    const f = decodeFpseFirstLine(`method=list+documents%3a12%2e0%2e0%2e6415${'&p'.repeat(150)}`);
    assert.equal(f.params.length, 100);
    assert.deepEqual(f.problems, ['150 parameters; only the first 100 names are listed']);
  });

  it('stops at the cap and still decodes the pairs that end inside it', () => {
    const long = Buffer.from(`method=server+version%3a12%2e0%2e0%2e6415&document=${'a'.repeat(FPSE_FIRST_LINE_CAP)}\nrest`);
    const scanner = new FpseRequestScanner();
    assert.equal(scanner.push(long), true);
    const f = scanner.result();
    assert.equal(f.complete, false);
    assert.equal(f.firstLineBytes, FPSE_FIRST_LINE_CAP);
    assert.deepEqual(parts(f.clientVersion), [12, 0, 0, 6415]);
    assert.deepEqual(f.params, []);
    assert.match(f.problems[0]!, /^first line longer than 64 KiB/);
    const noMethod = decodeFpseFirstLine(`method=${'x'.repeat(FPSE_FIRST_LINE_CAP + 1)}`);
    assert.equal(noMethod.method, undefined);
    assert.ok(noMethod.problems.includes('no whole method= parameter within the first 64 KiB'));
  });

  it('is incomplete until an LF or end(), and ignores pushes after the LF', () => {
    const scanner = new FpseRequestScanner();
    assert.equal(scanner.push(Buffer.from('method=server+vers')), false);
    const early = scanner.result();
    assert.equal(early.complete, false);
    assert.equal(early.method, undefined);
    assert.deepEqual(early.problems, ['first line incomplete (no LF yet and the body has not ended)']);
    assert.equal(scanner.push(Buffer.from('ion%3a4%2e0%2e2%2e2611')), false);
    const done = scanner.end();
    assert.equal(done.complete, true);
    assert.deepEqual(parts(done.clientVersion), [4, 0, 2, 2611]);
    const lf = new FpseRequestScanner();
    assert.equal(lf.push(Buffer.from('method=a\nb')), true);
    assert.equal(lf.push(Buffer.from('more')), true);
    assert.equal(lf.result().firstLineBytes, 9);
  });
});

describe('re-encoding the method value in the client\'s style', () => {
  it('rewrites only the version, keeping the name bytes and the escape style', () => {
    const office = decodeFpseFirstLine(fixture('req-server-version-office.txt'));
    assert.equal(rewriteFpseMethodValue(office.rawMethodValue!, '6.0.2.5523', office.style!), 'server+version%3a6%2e0%2e2%2e5523');
    const upper = decodeFpseFirstLine(fixture('req-server-version-upper-hex.txt'));
    assert.equal(rewriteFpseMethodValue(upper.rawMethodValue!, '4.0.2.2611', upper.style!), 'server%20version%3A4%2E0%2E2%2E2611');
    const plain = decodeFpseFirstLine(fixture('req-server-version-sdk.txt'));
    assert.equal(rewriteFpseMethodValue(plain.rawMethodValue!, '12.0.0.6415', plain.style!), 'server+version:12.0.0.6415');
    const nmap = decodeFpseFirstLine(fixture('req-open-service-nmap.txt'));
    assert.equal(rewriteFpseMethodValue(nmap.rawMethodValue!, '5.0.2.2623', nmap.style!), 'open+service:5.0.2.2623');
    assert.equal(rewriteFpseMethodValue(office.rawMethodValue!, undefined, office.style!), 'server+version');
  });
  it('adds a version to a version-less call in the style the rest of the line suggests', () => {
    const bare = decodeFpseFirstLine(fixture('req-server-version-bare.txt'));
    assert.deepEqual(bare.style?.guessed, ['colon', 'dot', 'underscore']);
    assert.equal(rewriteFpseMethodValue(bare.rawMethodValue!, '5.0.2.6790', bare.style), 'server+version:5.0.2.6790');
    const escaped = decodeFpseFirstLine('method=url+to+web+url&url=%2Fsites%2Fa');
    assert.equal(rewriteFpseMethodValue(escaped.rawMethodValue!, '12.0.0.6415', escaped.style!), 'url+to+web+url%3A12%2E0%2E0%2E6415');
    const byUnderscore = decodeFpseFirstLine('method=open+service&service%5fname=%2f');
    assert.equal(encodeFpseVersion('1.2.3.4', byUnderscore.style!), '1%2e2%2e3%2e4');
  });
});

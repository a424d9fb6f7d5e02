import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claimsFpse, isVermeerRpcType, observeFpseRequestHeaders, observeFpseResponseHeaders } from '../../src/protocols/fpse.js';

describe('claimsFpse (§2.1, §2.2)', () => {
  it('claims the discovery GET at the root and in subwebs', () => {
    assert.equal(claimsFpse('GET', '/_vti_inf.html'), 'vti-inf');
    assert.equal(claimsFpse('get', '/sites/team/_VTI_INF.HTML?x=1'), 'vti-inf');
    assert.equal(claimsFpse('GET', 'http://fp4/_vti_inf.html'), 'vti-inf');
    assert.equal(claimsFpse('POST', '/_vti_inf.html'), undefined);
  });
  it('claims POSTs to every script URL, .dll and .exe, any case, any prefix, with a query', () => {
    assert.equal(claimsFpse('POST', '/_vti_bin/shtml.dll/_vti_rpc'), 'rpc');
    assert.equal(claimsFpse('POST', '/site_url/_vti_bin/shtml.exe/_vti_rpc'), 'rpc');
    assert.equal(claimsFpse('POST', '/_vti_bin/_vti_aut/author.dll'), 'author');
    assert.equal(claimsFpse('POST', '/a/b/_vti_bin/_vti_aut/Author.exe?x=y'), 'author');
    assert.equal(claimsFpse('POST', '/_vti_bin/_vti_adm/admin.dll'), 'admin');
    assert.equal(claimsFpse('POST', '/_vti_bin/_vti_adm/Admin.exe'), 'admin');
    assert.equal(claimsFpse('POST', '/_vti_bin/owssvr.dll?Cmd=Display'), 'owssvr');
    assert.equal(claimsFpse('POST', '/_vti_bin/Owssvr.exe'), 'owssvr');
    assert.equal(claimsFpse('POST', 'https://sp.example/sites/x/_vti_bin/shtml.dll/_vti_rpc'), 'rpc');
    assert.equal(claimsFpse('POST', '/_vti_bin/%5fvti_aut/author.dll'), 'author');
  });
  it('claims nothing else', () => {
    assert.equal(claimsFpse('GET', '/_vti_bin/shtml.dll/_vti_rpc'), undefined);
    assert.equal(claimsFpse('POST', '/_vti_bin/shtml.dll'), undefined);
    assert.equal(claimsFpse('POST', '/_vti_bin/xshtml.dll/_vti_rpc'), undefined);
    assert.equal(claimsFpse('POST', '/_vti_bin/author.dll'), undefined);
    assert.equal(claimsFpse('POST', '/mapi/emsmdb/'), undefined);
    assert.equal(claimsFpse('POST', ''), undefined);
    assert.equal(claimsFpse('POST', '/x?path=/_vti_bin/_vti_aut/author.dll'), undefined);
  });
});

describe('FPSE request headers (MS-FPSE 3.1.5.1)', () => {
  it('reads the MC-FPSEWM 4.2.4.1 header set without problems', () => {
    const facts = observeFpseRequestHeaders(
      ['MIME-Version', '1.0', 'User-Agent', 'MSFrontPage/12.0', 'Content-Type', 'application/x-www-form-urlencoded', 'X-Vermeer-Content-Type', 'application/x-www-form-urlencoded'],
      'author',
    );
    assert.equal(facts.frontPageUserAgent, 'MSFrontPage/12.0');
    assert.equal(facts.vermeerContentType, 'application/x-www-form-urlencoded');
    assert.deepEqual(facts.problems, []);
  });
  it('finds FrontPage 98\'s token inside a Mozilla comment', () => {
    const facts = observeFpseRequestHeaders(['User-Agent', 'Mozilla/2.0 (compatible; MS FrontPage 3.0)'], 'vti-inf');
    assert.equal(facts.frontPageUserAgent, 'MS FrontPage 3.0');
    assert.deepEqual(facts.problems, []);
  });
  it('reports a User-Agent without the case-sensitive "FrontPage" and a missing X-Vermeer-Content-Type', () => {
    const facts = observeFpseRequestHeaders(['User-Agent', 'msfrontpage/5.0', 'Content-Type', 'application/x-vermeer-urlencoded'], 'rpc');
    assert.equal(facts.frontPageUserAgent, undefined);
    assert.equal(facts.problems.length, 2);
    assert.match(facts.problems[0]!, /case-sensitive "FrontPage"/);
    assert.match(facts.problems[1]!, /no X-Vermeer-Content-Type/);
  });
  it('reports an X-Vermeer-Content-Type that differs and a non-form Content-Type', () => {
    const facts = observeFpseRequestHeaders(['User-Agent', 'MSFrontPage/15.0', 'Content-Type', 'text/plain', 'X-Vermeer-Content-Type', 'application/x-www-form-urlencoded'], 'rpc');
    assert.equal(facts.problems.length, 2);
    assert.match(facts.problems[0]!, /not application\/x-www-form-urlencoded or application\/x-vermeer-urlencoded/);
    assert.match(facts.problems[1]!, /differs from Content-Type/);
  });
  it('does not judge the discovery GET of a browser, nor a head without endpoint', () => {
    assert.deepEqual(observeFpseRequestHeaders(['User-Agent', 'curl/8.0'], 'vti-inf').problems, []);
    assert.deepEqual(observeFpseRequestHeaders([]).problems, []);
  });
});

describe('FPSE response headers (§2.7)', () => {
  it('reads MicrosoftSharePointTeamServices as a version', () => {
    const facts = observeFpseResponseHeaders(['Content-Type', 'application/x-vermeer-rpc', 'MicrosoftSharePointTeamServices', '14.0.0.6029']);
    assert.equal(facts.sharePointTeamServices, '14.0.0.6029');
    assert.ok(facts.sharePointVersion?.ok);
    assert.deepEqual(facts.sharePointVersion.version.parts, [14, 0, 0, 6029]);
    assert.equal(facts.contentType, 'application/x-vermeer-rpc');
    assert.deepEqual(facts.problems, []);
  });
  it('reads the OPTIONS headers of MS-WDVME 4.1.2 and an old Apache Server token', () => {
    const facts = observeFpseResponseHeaders([
      'Server', 'Apache/1.2.4 FrontPage/3.0.2',
      'MS-Author-Via', 'MS-FP/4.0,DAV',
      'MicrosoftOfficeWebServer', '5.0_Collab',
    ]);
    assert.equal(facts.msAuthorVia, 'MS-FP/4.0,DAV');
    assert.equal(facts.officeWebServer, '5.0_Collab');
    assert.equal(facts.serverFrontPage, 'FrontPage/3.0.2');
    assert.equal(facts.sharePointTeamServices, undefined);
  });
  it('reports a bad or inconsistent MicrosoftSharePointTeamServices', () => {
    const bad = observeFpseResponseHeaders(['MicrosoftSharePointTeamServices', '14.0']);
    assert.equal(bad.sharePointVersion?.ok, false);
    assert.match(bad.problems[0]!, /^MicrosoftSharePointTeamServices "14.0" /);
    const twice = observeFpseResponseHeaders(['MicrosoftSharePointTeamServices', '14.0.0.6114', 'microsoftsharepointteamservices', '14.0.0.6120']);
    assert.match(twice.problems[0]!, /sent 2 times with different values/);
  });
  it('recognises the vermeer RPC content type with parameters', () => {
    assert.equal(isVermeerRpcType('Application/X-Vermeer-RPC; charset=utf-8'), true);
    assert.equal(isVermeerRpcType('text/html'), false);
    assert.equal(isVermeerRpcType(undefined), false);
  });
});

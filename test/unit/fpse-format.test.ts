/**
 * The FPSE packet writer against the wire examples of docs/protocols.md §2.1, §2.3, §4.8, §4.10, §4.11.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  V_RPC_CLIENT_TOO_OLD,
  escapeRpcValue,
  formatErrorPacket,
  formatMethodResponse,
  formatServerVersionResponse,
  formatVtiInfPage,
} from '../../src/protocols/fpse-format.js';

describe('fpse-format', () => {
  it('writes the SharePoint 2010 server version answer of §2.3 byte for byte', () => {
    const expected =
      '<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=server version:12.0.0.6415\n<p>server version=\n<ul>\n' +
      '<li>major ver=14\n<li>minor ver=0\n<li>phase ver=0\n<li>ver incr=6029\n</ul>\n<p>source control=1\n</body>\n</html>\n';
    assert.equal(formatServerVersionResponse({ version: '12.0.0.6415', server: [14, 0, 0, 6029], sourceControl: 1 }), expected);
  });

  it('writes the version-less FP2002 answer of §4.8 (no version, no source control)', () => {
    const text = formatServerVersionResponse({ server: [5, 0, 2, 6790] });
    assert.match(text, /\n<p>method=server version\n<p>server version=\n<ul>\n<li>major ver=5\n<li>minor ver=0\n<li>phase ver=2\n<li>ver incr=6790\n<\/ul>\n<\/body>/);
    assert.doesNotMatch(text, /source control/);
  });

  it('uses bare LF line ends only (§2.3: FrontPage clients require them)', () => {
    assert.doesNotMatch(formatServerVersionResponse({ server: [14, 0, 0, 6029] }), /\r/);
  });

  it('writes the error packet of §4.11 with status 262156', () => {
    assert.equal(V_RPC_CLIENT_TOO_OLD, 262156);
    const expected =
      '<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=server version:14.0.0.6029\n<p>status=\n<ul>\n' +
      '<li>status=262156\n<li>osstatus=0\n<li>msg=too old\n<li>osmsg=\n</ul>\n</body>\n</html>\n';
    assert.equal(formatErrorPacket({ method: 'server version', version: '14.0.0.6029', status: V_RPC_CLIENT_TOO_OLD, msg: 'too old' }), expected);
  });

  it('nests lists and writes meta-info pairs as in the open service answer of §4.10', () => {
    const text = formatMethodResponse({
      method: 'open service',
      version: '12.0.0.6415',
      entries: [{ name: 'service', list: [{ name: 'service_name', value: '/' }, { name: 'meta_info', list: ['vti_casesensitiveurls', 'IX|0'] }] }],
    });
    assert.match(text, /<p>method=open service:12\.0\.0\.6415\n<p>service=\n<ul>\n<li>service_name=\/\n<li>meta_info=\n<ul>\n<li>vti_casesensitiveurls\n<li>IX\|0\n<\/ul>\n<\/ul>\n/);
  });

  it('escapes characters that would break the HTML packet', () => {
    assert.equal(escapeRpcValue('a<b>&"c"'), 'a&lt;b&gt;&amp;&quot;c&quot;');
    assert.match(formatErrorPacket({ method: 'x', status: 1, msg: '<script>' }), /<li>msg=&lt;script&gt;\n/);
  });

  it('writes _vti_inf.html with the comment block of §2.1 in key order', () => {
    const page = formatVtiInfPage({ version: '6.0.2.9999' });
    const block =
      '<!-- FrontPage Configuration Information\n FPVersion="6.0.2.9999"\nFPShtmlScriptUrl="_vti_bin/shtml.dll/_vti_rpc"\n' +
      'FPAuthorScriptUrl="_vti_bin/_vti_aut/author.dll"\nFPAdminScriptUrl="_vti_bin/_vti_adm/admin.dll"\nTPScriptUrl="_vti_bin/owssvr.dll"\n-->\n';
    assert.ok(page.includes(block), page);
  });

  it('takes the Unix FPSE 2002 script names of §2.1', () => {
    const page = formatVtiInfPage({ version: '5.0.2.4330', shtmlScriptUrl: '_vti_bin/shtml.exe/_vti_rpc', authorScriptUrl: '_vti_bin/_vti_aut/Author.exe' });
    assert.match(page, /FPShtmlScriptUrl="_vti_bin\/shtml\.exe\/_vti_rpc"\nFPAuthorScriptUrl="_vti_bin\/_vti_aut\/Author\.exe"/);
  });
});

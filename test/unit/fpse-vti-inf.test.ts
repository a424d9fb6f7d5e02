import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseVtiInf } from '../../src/protocols/fpse-vti-inf.js';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/fixtures/fpse');
const fixture = (name: string): Buffer => readFileSync(join(dir, name));

describe('_vti_inf.html (§2.1)', () => {
  it('reads the Liferay form', () => {
    const f = parseVtiInf(fixture('vti-inf-liferay.html'));
    assert.equal(f.fpVersionText, '6.0.2.9999');
    assert.ok(f.fpVersion?.ok);
    assert.deepEqual(f.fpVersion.version.parts, [6, 0, 2, 9999]);
    assert.deepEqual(f.scripts, {
      FPShtmlScriptUrl: '_vti_bin/shtml.dll/_vti_rpc',
      FPAuthorScriptUrl: '_vti_bin/_vti_aut/author.dll',
      FPAdminScriptUrl: '_vti_bin/_vti_adm/admin.dll',
      TPScriptUrl: '_vti_bin/owssvr.dll',
    });
    assert.equal(f.pairs.length, 5);
    assert.deepEqual(f.problems, []);
  });

  it('reads SharePoint\'s zero-padded 15.00.0.000 inside a page with other comments, CRLF', () => {
    const f = parseVtiInf(fixture('vti-inf-sharepoint-2013-crlf.html'));
    assert.equal(f.fpVersionText, '15.00.0.000');
    assert.ok(f.fpVersion?.ok);
    assert.deepEqual(f.fpVersion.version.parts, [15, 0, 0, 0]);
    assert.deepEqual(f.fpVersion.version.widths, [2, 2, 1, 3]);
    assert.equal(f.scripts.FPAuthorScriptUrl, '_vti_bin/_vti_aut/author.dll');
    assert.deepEqual(f.problems, []);
  });

  it('reads Unix FPSE 2002 .exe script URLs as written', () => {
    const f = parseVtiInf(fixture('vti-inf-unix-fpse2002.html').toString('utf8'));
    assert.equal(f.fpVersionText, '5.0.2.4330');
    assert.equal(f.scripts.FPShtmlScriptUrl, '_vti_bin/shtml.exe/_vti_rpc');
    assert.equal(f.scripts.FPAuthorScriptUrl, '_vti_bin/_vti_aut/Author.exe');
    assert.equal(f.scripts.TPScriptUrl, '_vti_bin/Owssvr.exe');
  });

  it('reports a page without the block', () => {
    const f = parseVtiInf(fixture('vti-inf-no-block.html'));
    assert.equal(f.fpVersion, undefined);
    assert.deepEqual(f.problems, [
      'no <!-- FrontPage Configuration Information comment (§2.1); searched the whole page',
      'no FPVersion="…" (§2.1)',
      'no FPShtmlScriptUrl, FPAuthorScriptUrl, FPAdminScriptUrl (§2.1)',
    ]);
  });

  it('reports a bad FPVersion, an unclosed block and conflicting repeats', () => {
    const f = parseVtiInf('<!-- FrontPage Configuration Information\nFPVersion="5.0"\nFPVersion="6.0.2.1"\nFPShtmlScriptUrl="a"\nFPAuthorScriptUrl="b"\nFPAdminScriptUrl="c"\n');
    assert.equal(f.fpVersionText, '5.0');
    assert.equal(f.fpVersion?.ok, false);
    assert.deepEqual(f.problems.slice(0, 2), [
      'the FrontPage Configuration Information comment is not closed (no -->)',
      'FPVersion appears 2 times with different values; the first is used',
    ]);
    assert.match(f.problems[2]!, /^FPVersion "5.0" needs four numbers/);
  });
});

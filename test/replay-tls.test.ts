/**
 * `./proxy replay --target https://…` trusts what `./proxy start` trusts: the system store, plus
 * `--upstream-ca FILE`, or no verification for `--insecure-upstream` hosts (issue 5 item 4, for
 * the replay of issue 6 item 5). A lab server with a certificate of its own CA is the usual target.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createExchange } from '../src/core/exchange.js';
import { exchangeLine } from '../src/record/entry.js';
import { runCli } from './helpers/process.js';
import { tempDir } from './helpers/temp.js';
import { makeTestCa, startHttpsServer } from './helpers/tls.js';

/** A journal of one recorded `GET /doc` answered 200. */
function journalOfOneGet(dir: string): string {
  const x = createExchange('http', { address: '127.0.0.1', port: 1, connection: 1 }, { method: 'GET', url: '/doc', httpVersion: '1.1', rawHeaders: ['Host', 'lab.contoso.test'] });
  x.url = 'https://lab.contoso.test/doc';
  x.response = { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Type', 'text/plain'], source: 'upstream' };
  x.timings = { start: 1000, end: 1001 };
  const file = join(dir, 'one.ndjson');
  writeFileSync(file, `${JSON.stringify(exchangeLine(x))}\n`);
  return file;
}

describe('replay to an https target', () => {
  it('verifies the target against the system store, --upstream-ca adds a CA, --insecure-upstream skips verification', async (t) => {
    const ca = await makeTestCa('replay lab');
    const seen: string[] = [];
    const server = await startHttpsServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    }, await ca.issue(['127.0.0.1']));
    t.after(() => server.close());
    const dir = tempDir(t, 'vp-replay-tls-');
    const journal = journalOfOneGet(dir);
    const caFile = join(dir, 'lab-ca.pem');
    writeFileSync(caFile, ca.certPem);
    const replay = (...extra: string[]) => runCli(['replay', journal, '--target', server.url, '--fast', ...extra]);

    const untrusted = await replay();
    assert.equal(untrusted.code, 1, `a certificate of an unknown CA is a difference: ${untrusted.stdout}${untrusted.stderr}`);
    assert.match(untrusted.stdout, /502/, untrusted.stdout);
    assert.deepEqual(seen, [], 'nothing reached the server without a verified connection');

    const trusted = await replay('--upstream-ca', caFile);
    assert.equal(trusted.code, 0, `with the lab CA the answer matches: ${trusted.stdout}${trusted.stderr}`);
    assert.deepEqual(seen, ['/doc']);

    const insecure = await replay('--insecure-upstream', '127.0.0.1');
    assert.equal(insecure.code, 0, `without verification the answer matches: ${insecure.stdout}${insecure.stderr}`);
    assert.deepEqual(seen, ['/doc', '/doc']);

    const missing = await replay('--upstream-ca', join(dir, 'nowhere.pem'));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /--upstream-ca .*nowhere\.pem cannot be read \(ENOENT\)/, missing.stderr);
    assert.equal(seen.length, 2, 'a bad --upstream-ca stops the replay before it sends anything');
  });
});

/**
 * Reverse mode over TLS (issue 5, item 5) and the Windows auth hint through the proxy (item 6):
 * `--target https://…` with `--tls`, so a client points at the proxy directly and sees a leaf of
 * our CA; and an intercepted host that answers the client's NTLM type-3 message with 401 again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { parseTarget } from '../src/config.js';
import { openCa } from '../src/tls/ca.js';
import { curl, findCurl } from './helpers/curl.js';
import { createLogSink } from './helpers/log-sink.js';
import { startProxy } from './helpers/proxy.js';
import { makeTestCa, startHttpsServer } from './helpers/tls.js';

const root = await mkdtemp(path.join(os.tmpdir(), 'vp-https-reverse-'));
after(() => rm(root, { recursive: true, force: true }));
const upstreamCa = await makeTestCa('reverse upstream CA');
const upstreamCaFile = path.join(root, 'upstream-ca.pem');
await writeFile(upstreamCaFile, upstreamCa.certPem);
const leaf = await upstreamCa.issue(['localhost']);

function get(url: string, options: https.RequestOptions): Promise<{ status: number; body: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...options, agent: false }, (res) => {
      const cn = (res.socket as tls.TLSSocket).getPeerCertificate().issuer?.CN ?? '';
      const issuer = Array.isArray(cn) ? cn.join(', ') : cn;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, issuer }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

describe('reverse mode over TLS (--target https://… --tls)', () => {
  it('answers with a leaf of our CA and forwards over verified TLS to the target', async (t) => {
    const upstream = await startHttpsServer((req, res) => res.end(`upstream saw ${req.url} host=${req.headers.host}`), leaf);
    t.after(() => upstream.close());
    const caDir = path.join(root, 'ca-reverse');
    const proxy = await startProxy({
      target: parseTarget(`https://localhost:${upstream.port}`),
      tls: true,
      interception: { caDir, intercept: ['*'], noIntercept: [] },
      upstreamCa: [upstreamCaFile],
    });
    t.after(() => proxy.close());
    assert.match(proxy.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ours = await readFile(path.join(caDir, 'ca.pem'), 'utf8');
    const got = await get(`https://localhost:${proxy.port}/owa/?a=1`, { ca: ours });
    assert.equal(got.status, 200);
    assert.equal(got.body, `upstream saw /owa/?a=1 host=localhost:${upstream.port}`);
    assert.match(got.issuer, /^version-proxy CA/);
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(x!.url, `https://localhost:${upstream.port}/owa/?a=1`);
    assert.equal(x!.error, undefined);
  });

  it('refuses --tls without --target', async () => {
    await assert.rejects(startProxy({ tls: true, interception: { caDir: path.join(root, 'ca-none'), intercept: ['*'], noIntercept: [] } }), /--tls serves reverse mode only/);
  });
});

describe('the Extended Protection hint through the proxy', () => {
  it('flags an intercepted 401 that answers NTLM type 3: on every record, once in the log', async (t) => {
    const found = await findCurl();
    if (!found.ok) return t.skip(found.reason);
    const type3 = Buffer.concat([Buffer.from('NTLMSSP\0', 'latin1'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(40)]).toString('base64');
    // Like Exchange with Extended Protection behind a man in the middle: the channel binding does
    // not match, so the final message is refused with 401 and a fresh challenge.
    const upstream = await startHttpsServer((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': 'NTLM', 'Content-Length': '0' });
      res.end();
    }, leaf);
    t.after(() => upstream.close());
    const caDir = path.join(root, 'ca-hint');
    // The proxy opens the same CA on its first CONNECT; opening it here gives curl the file to trust.
    const ca = await openCa(caDir, createLogSink('warn').logger);
    const proxy = await startProxy({ interception: { caDir, intercept: ['*'], noIntercept: [] }, upstreamCa: [upstreamCaFile] });
    t.after(() => proxy.close());
    const url = `https://localhost:${upstream.port}/EWS/Exchange.asmx`;
    for (let i = 0; i < 2; i++) {
      const r = await curl(found.path, ['--cacert', ca.certPath, '-x', proxy.url, '-H', `Authorization: NTLM ${type3}`, url]);
      assert.equal(r.status, 401, r.stderr);
    }
    const records = (await proxy.waitForExchanges(4)).filter((x) => x.kind === 'http');
    assert.equal(records.length, 2);
    for (const x of records) {
      assert.equal(x.intercepted, true);
      assert.match(x.hints?.[0] ?? '', /Extended Protection.*--no-intercept localhost/);
    }
    const warned = proxy.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('Extended Protection'));
    assert.equal(warned.length, 1, 'logged once for the host');
  });

  it('says nothing for a type-1 message (the handshake is only starting)', async (t) => {
    const found = await findCurl();
    if (!found.ok) return t.skip(found.reason);
    const type1 = Buffer.concat([Buffer.from('NTLMSSP\0', 'latin1'), Buffer.from([1, 0, 0, 0]), Buffer.alloc(24)]).toString('base64');
    const upstream = await startHttpsServer((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': 'NTLM TlRMTVNTUAACAAAA', 'Content-Length': '0' });
      res.end();
    }, leaf);
    t.after(() => upstream.close());
    const caDir = path.join(root, 'ca-hint-1');
    const ca = await openCa(caDir, createLogSink('warn').logger);
    const proxy = await startProxy({ interception: { caDir, intercept: ['*'], noIntercept: [] }, upstreamCa: [upstreamCaFile] });
    t.after(() => proxy.close());
    const r = await curl(found.path, ['--cacert', ca.certPath, '-x', proxy.url, '-H', `Authorization: NTLM ${type1}`, `https://localhost:${upstream.port}/EWS/`]);
    assert.equal(r.status, 401, r.stderr);
    const [x] = (await proxy.waitForExchanges(2)).filter((e) => e.kind === 'http');
    assert.equal(x!.intercepted, true);
    assert.equal(x!.hints, undefined);
  });
});

/**
 * The proxy's CA (src/tls/ca.ts): files and modes on first need, reuse on later runs, leaves that
 * Node's own X.509 code and a real TLS handshake accept, ERR_CA for broken files, and no key
 * material in the logs.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { ProgramError } from '../../src/errors.js';
import { DEFAULTS } from '../../src/config.js';
import { formatCaHelp, openCa, type CertificateAuthority } from '../../src/tls/ca.js';
import { LeafCache } from '../../src/tls/leaf-cache.js';
import { createLogSink } from '../helpers/log-sink.js';
import { makeSelfSigned, makeTestCa, startHttpsServer } from '../helpers/tls.js';

const root = mkdtempSync(join(tmpdir(), 'vp-ca-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
/** A fresh CA directory that does not exist yet, one level below an existing one (mkdir -p). */
const freshDir = (): string => join(root, `run-${++dirs}`, 'ca');
const quietLogger = createLogSink('warn').logger;

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** The base64 body of a PEM: what would show up if key material leaked into a log line. */
const pemBody = (pem: string): string => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Connects with our CA as the only trust anchor; resolves with the verified socket. */
function connect(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(options, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('openCa', () => {
  it('creates the CA on first need: private directory, keys 0600, certificate readable', async (t) => {
    if (process.platform === 'win32') return t.skip('POSIX modes');
    const dir = freshDir();
    const ca = await openCa(dir, quietLogger);
    assert.equal(ca.dir, dir);
    assert.equal(ca.certPath, join(dir, 'ca.pem'));
    assert.equal(await mode(dir), 0o700);
    assert.equal(await mode(join(dir, 'ca-key.pem')), 0o600);
    assert.equal(await mode(join(dir, 'leaf-key.pem')), 0o600);
    assert.equal((await mode(join(dir, 'ca.pem'))) & 0o022, 0, 'the certificate is writable by its owner only');
    assert.equal(await readFile(ca.certPath, 'utf8'), ca.certPem);
    assert.equal(await readFile(join(dir, 'leaf-key.pem'), 'utf8'), ca.leafKeyPem);
  });

  it('warns (without changing it) when a key file is readable by others', async (t) => {
    if (process.platform === 'win32') return t.skip('POSIX modes');
    const dir = freshDir();
    await openCa(dir, quietLogger);
    await chmod(join(dir, 'ca-key.pem'), 0o644);
    const sink = createLogSink('warn');
    await openCa(dir, sink.logger);
    assert.equal(sink.filter((l) => l.msg === 'CA key file is readable by other users; chmod 600 it' && l.path === join(dir, 'ca-key.pem')).length, 1);
  });

  it('makes a CA certificate: CA:true, keyCertSign, about ten years, backdated, named after the host', async () => {
    const ca = await openCa(freshDir(), quietLogger);
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, true);
    assert.match(cert.subject, /CN=version-proxy CA \(.+\)/);
    assert.equal(cert.subject, cert.issuer);
    assert.ok(cert.checkIssued(cert), 'self-issued');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.deepEqual(ca.certDer, cert.raw);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    assert.ok(from < Date.now() - 12 * 3600e3, `backdated (validFrom ${cert.validFrom})`);
    assert.ok((to - from) / 86400e3 > 3600, `about ten years (${cert.validFrom} .. ${cert.validTo})`);
  });

  it('reuses the files on a later run', async () => {
    const dir = freshDir();
    const first = await openCa(dir, quietLogger);
    const sink = createLogSink('trace');
    const second = await openCa(dir, sink.logger);
    assert.equal(second.certPem, first.certPem);
    assert.equal(second.spki, first.spki);
    assert.equal(second.leafKeyPem, first.leafKeyPem);
    assert.deepEqual(sink.filter((l) => l.msg === 'CA created'), [], 'no second CA');
  });

  it('two processes opening a fresh directory at once end up with one CA', async () => {
    const dir = freshDir();
    const cas = await Promise.all([openCa(dir, quietLogger), openCa(dir, quietLogger), openCa(dir, quietLogger)]);
    const onDisk = await readFile(join(dir, 'ca.pem'), 'utf8');
    for (const ca of cas) {
      assert.equal(ca.certPem, onDisk);
      assert.equal(ca.leafKeyPem, cas[0].leafKeyPem);
    }
  });

  it('spki is the base64 SHA-256 of the certificate SubjectPublicKeyInfo (Chromium --ignore-certificate-errors-spki-list)', async () => {
    const ca = await openCa(freshDir(), quietLogger);
    const expected = createHash('sha256')
      .update(new X509Certificate(ca.certPem).publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64');
    assert.equal(ca.spki, expected);
  });

  it('defaults to ~/.version-proxy (per user: the key stays in a directory only its user reads)', () => {
    assert.match(DEFAULTS.caDir, /[\\/]\.version-proxy$/);
  });
});

describe('issueLeaf', () => {
  let ca: CertificateAuthority;
  const setup = async (): Promise<CertificateAuthority> => (ca ??= await openCa(freshDir(), quietLogger));

  it('signs a leaf that verifies against the CA, with DNS and IP SANs and serverAuth', async () => {
    const authority = await setup();
    const { certPem, notAfter } = await authority.issueLeaf(['Svc.Example.TEST.', '127.0.0.1', '[::1]']);
    const leaf = new X509Certificate(certPem);
    const caCert = new X509Certificate(authority.certPem);
    assert.ok(leaf.checkIssued(caCert), 'issued by our CA');
    assert.ok(leaf.verify(caCert.publicKey), 'signed by our CA key');
    assert.equal(leaf.ca, false);
    assert.equal(leaf.issuer, caCert.subject);
    const sans = (leaf.subjectAltName ?? '').split(', ');
    assert.ok(sans.includes('DNS:svc.example.test'), leaf.subjectAltName);
    assert.ok(sans.includes('IP Address:127.0.0.1'), leaf.subjectAltName);
    assert.ok(sans.some((s) => /^IP Address:(::1|0:0:0:0:0:0:0:1)$/i.test(s)), leaf.subjectAltName);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extKeyUsage serverAuth');
    assert.equal(leaf.checkHost('svc.example.test'), 'svc.example.test');
    assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(leaf.checkPrivateKey(createPrivateKey(authority.leafKeyPem)), true, 'the shared leaf key');
    const from = Date.parse(leaf.validFrom);
    const to = Date.parse(leaf.validTo);
    assert.ok(from < Date.now() - 12 * 3600e3, `backdated (validFrom ${leaf.validFrom})`);
    assert.ok((to - from) / 86400e3 <= 397, `Chrome's 398-day limit (${leaf.validFrom} .. ${leaf.validTo})`);
    assert.ok((to - from) / 86400e3 >= 360, 'about a year');
    assert.equal(Math.floor(notAfter.getTime() / 1000), Math.floor(to / 1000));
  });

  it('gives each leaf a different serial, and every leaf the same key', async () => {
    const authority = await setup();
    const a = new X509Certificate((await authority.issueLeaf(['a.test'])).certPem);
    const b = new X509Certificate((await authority.issueLeaf(['a.test'])).certPem);
    assert.notEqual(a.serialNumber, b.serialNumber);
    assert.ok(a.serialNumber.length >= 16, `at least 64 random bits (${a.serialNumber})`);
    assert.ok(a.publicKey.equals(b.publicKey));
  });

  it('refuses to issue for no name', async () => {
    const authority = await setup();
    await assert.rejects(authority.issueLeaf(['', '.']), (err: unknown) => err instanceof ProgramError && err.code === 'ERR_CA');
  });
});

describe('a real TLS handshake with a LeafCache context', () => {
  it('SNI: the client trusts only our CA, verifies the name, and gets our CA in the chain', async () => {
    const ca = await openCa(freshDir(), quietLogger);
    const cache = new LeafCache(ca);
    const server = tls.createServer({
      ALPNProtocols: ['http/1.1'],
      SNICallback: (name, done) => void cache.context(name).then((context) => done(null, context), (err: Error) => done(err, undefined)),
    });
    server.on('secureConnection', (socket) => socket.end('hello'));
    const port = await listen(server);
    try {
      const socket = await connect({ host: '127.0.0.1', port, servername: 'svc.example.test', ca: ca.certPem });
      assert.equal(socket.authorized, true);
      const peer = socket.getPeerX509Certificate();
      assert.ok(peer);
      assert.equal(peer.issuer, new X509Certificate(ca.certPem).subject);
      assert.equal(peer.checkHost('svc.example.test'), 'svc.example.test');
      socket.destroy();

      // Without trusting anything, the chain the server sent must still reach our CA: Chromium's
      // --ignore-certificate-errors-spki-list only sees the certificates the server sends.
      const untrusting = await connect({ host: '127.0.0.1', port, servername: 'svc.example.test', rejectUnauthorized: false, ca: [] });
      assert.equal(untrusting.authorized, false);
      const detailed = untrusting.getPeerCertificate(true);
      assert.equal(detailed.issuerCertificate?.fingerprint256, new X509Certificate(ca.certPem).fingerprint256, 'the CA is sent after the leaf');
      untrusting.destroy();

      await assert.rejects(connect({ host: '127.0.0.1', port, servername: 'svc.example.test' }), /self[- ]signed|unable to (get|verify)/i, 'a client that does not trust the CA refuses');
    } finally {
      server.close();
    }
  });

  it('IP address: a TLSSocket over an accepted socket (as the proxy does) passes Node identity checks', async () => {
    const ca = await openCa(freshDir(), quietLogger);
    const cache = new LeafCache(ca);
    const server = net.createServer((raw) => {
      void cache.context('127.0.0.1').then((secureContext) => {
        const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
        socket.on('secure', () => socket.end('hello'));
        socket.on('error', () => raw.destroy());
      });
    });
    const port = await listen(server);
    try {
      const socket = await connect({ host: '127.0.0.1', port, ca: ca.certPem });
      assert.equal(socket.authorized, true);
      assert.match(socket.getPeerX509Certificate()?.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
      socket.destroy();
    } finally {
      server.close();
    }
  });
});

describe('broken CA files', () => {
  const isCaError = (err: unknown): boolean => {
    assert.ok(err instanceof ProgramError, String(err));
    assert.equal(err.code, 'ERR_CA');
    assert.ok(err.hint !== undefined && err.hint.length > 0, 'says how to fix it');
    return true;
  };

  it('a corrupt certificate is ERR_CA and is left as it is', async () => {
    const dir = freshDir();
    await openCa(dir, quietLogger);
    await writeFile(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
    await assert.rejects(openCa(dir, quietLogger), isCaError);
    assert.match(await readFile(join(dir, 'ca.pem'), 'utf8'), /not base64 at all/, 'never silently replaced');
  });

  it('a corrupt CA key is ERR_CA, and the message does not quote the file', async () => {
    const dir = freshDir();
    await openCa(dir, quietLogger);
    await writeFile(join(dir, 'ca-key.pem'), '-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
    await assert.rejects(openCa(dir, quietLogger), (err: unknown) => isCaError(err) && !String((err as Error).message).includes('U0VDUkVUU0VDUkVU'));
  });

  it('a corrupt leaf key is ERR_CA', async () => {
    const dir = freshDir();
    await openCa(dir, quietLogger);
    await writeFile(join(dir, 'leaf-key.pem'), 'garbage');
    await assert.rejects(openCa(dir, quietLogger), isCaError);
  });

  it('a certificate whose key is missing is ERR_CA (no new key is made for it)', async () => {
    const dir = freshDir();
    await openCa(dir, quietLogger);
    rmSync(join(dir, 'ca-key.pem'));
    await assert.rejects(openCa(dir, quietLogger), isCaError);
  });

  it('a certificate and key that do not belong together are ERR_CA', async () => {
    const a = freshDir();
    const b = freshDir();
    await openCa(a, quietLogger);
    await openCa(b, quietLogger);
    await writeFile(join(a, 'ca-key.pem'), await readFile(join(b, 'ca-key.pem')), { mode: 0o600 });
    await assert.rejects(openCa(a, quietLogger), isCaError);
  });

  it('a key without its certificate (a run stopped mid-creation) is certified, not refused', async () => {
    const dir = freshDir();
    const first = await openCa(dir, quietLogger);
    rmSync(join(dir, 'ca.pem'));
    const second = await openCa(dir, quietLogger);
    assert.notEqual(second.certPem, first.certPem);
    assert.equal(second.spki, first.spki, 'same key, so the same SPKI');
  });

  it('an unusable directory is ERR_CA', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(openCa(join(file, 'ca'), quietLogger), isCaError);
  });
});

describe('logs', () => {
  it('say when a CA is created (path and SPKI), and never carry key material', async () => {
    const sink = createLogSink('trace');
    const dir = freshDir();
    const ca = await openCa(dir, sink.logger);
    const cache = new LeafCache(ca);
    await cache.context('logged.example.test');
    await ca.issueLeaf(['127.0.0.1']);
    const created = sink.filter((l) => l.msg === 'CA created');
    assert.equal(created.length, 1);
    assert.equal(created[0]!.level, 30);
    assert.equal(created[0]!.certPath, ca.certPath);
    assert.equal(created[0]!.spki, ca.spki);

    const text = JSON.stringify(sink.lines);
    assert.doesNotMatch(text, /PRIVATE KEY/);
    for (const file of ['ca-key.pem', 'leaf-key.pem']) {
      const body = pemBody(await readFile(join(dir, file), 'utf8'));
      assert.ok(body.length > 40);
      assert.ok(!text.includes(body.slice(0, 40)) && !text.includes(body.slice(-40)), `${file} leaked into the log`);
    }
  });
});

describe('formatCaHelp', () => {
  it('pem: the certificate on stdout, install hints for curl, Node, Chromium and Windows on stderr', async () => {
    const ca = await openCa(freshDir(), quietLogger);
    const out = formatCaHelp(ca, 'pem');
    assert.equal(out.stdout, ca.certPem);
    assert.match(out.stderr, /--cacert/);
    assert.match(out.stderr, /NODE_EXTRA_CA_CERTS=/);
    assert.ok(out.stderr.includes(`--ignore-certificate-errors-spki-list=${ca.spki}`));
    assert.match(out.stderr, /certutil -addstore Root ca\.pem/);
    assert.doesNotMatch(out.stderr, /PRIVATE KEY/);
  });

  it('der: the raw DER bytes; spki: the hash line only', async () => {
    const ca = await openCa(freshDir(), quietLogger);
    const der = formatCaHelp(ca, 'der');
    assert.ok(Buffer.isBuffer(der.stdout));
    assert.deepEqual(der.stdout, new X509Certificate(ca.certPem).raw);
    assert.equal(der.stderr, '');
    assert.deepEqual(formatCaHelp(ca, 'spki'), { stdout: `${ca.spki}\n`, stderr: '' });
  });
});

describe('test/helpers/tls fixtures (what the HTTPS integration tests stand on)', () => {
  /** GET through Node's https with `ca` as the only trust anchor: the body, or the error code. */
  function get(url: string, ca: string, servername?: string): Promise<string> {
    return new Promise((resolve) => {
      const req = https.get(url, { ca, servername, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  }

  it('a test CA issues good, expired, not-yet-valid and wrong-name leaves; self-signed is refused', async () => {
    const testCa = await makeTestCa('upstream');
    const cases: Array<[string, Promise<{ certPem: string; keyPem: string }>, string]> = [
      ['good', testCa.issue(['127.0.0.1', 'localhost']), 'ok'],
      ['expired', testCa.issue(['127.0.0.1'], { expired: true }), 'CERT_HAS_EXPIRED'],
      ['not yet valid', testCa.issue(['127.0.0.1'], { notYetValid: true }), 'CERT_NOT_YET_VALID'],
      ['wrong name', testCa.issue(['elsewhere.test']), 'ERR_TLS_CERT_ALTNAME_INVALID'],
      ['self-signed', makeSelfSigned(['127.0.0.1']), 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ];
    for (const [label, leaf, expected] of cases) {
      const server = await startHttpsServer((_req, res) => res.end('ok'), await leaf);
      try {
        assert.equal(await get(`${server.url}/`, testCa.certPem), expected, label);
      } finally {
        await server.close();
      }
    }
  });

  it('close() ends connections that are still open', async () => {
    const testCa = await makeTestCa('closing');
    const server = await startHttpsServer(() => undefined /* never answers */, await testCa.issue(['127.0.0.1']));
    const pending = get(`${server.url}/`, testCa.certPem);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.close();
    assert.match(await pending, /ECONNRESET|socket hang up/);
  });
});

/**
 * The proxy's own certificate authority (issue 5, items 1 and 3): created on first need in a CA
 * directory, reused on every later run, and the signer of the leaf certificates that intercepted
 * TLS connections are answered with.
 *
 * Keys: ECDSA P-256 for the CA and for the one key pair every leaf shares. WebCrypto generates and
 * signs with it natively on libuv's thread pool, so issuing a leaf never holds the event loop for
 * a signature (http-mitm-proxy's per-host RSA keygen stalls for hundreds of ms); curl, Node,
 * Chromium and Windows all accept P-256 with ECDSA-SHA256. Sharing one leaf key is mitmproxy's
 * choice too: a leaf then costs one signature, and the key never needs rotating because it is as
 * local (and as protected, mode 0600) as the CA key that vouches for it.
 */
import type { Extension, JsonGeneralName, JsonName } from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, randomBytes, X509Certificate, type KeyObject, type webcrypto } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { domainToASCII } from 'node:url';
import type { Logger } from 'pino';
import { ProgramError } from '../errors.js';

type X509 = typeof import('@peculiar/x509');
let x509: Promise<X509> | undefined;

/**
 * @peculiar/x509 and what it pulls in cost about 20 MB of RSS and 5 MB of heap: loaded when a CA
 * is first opened (the first intercepted CONNECT, `./proxy ca`), not by every proxy. tsyringe,
 * which it loads, throws unless the Reflect metadata polyfill is installed first.
 */
function loadX509(): Promise<X509> {
  return (x509 ??= import('reflect-metadata').then(() => import('@peculiar/x509')));
}

export interface CertificateAuthority {
  readonly dir: string;
  /** `<dir>/ca.pem` */
  readonly certPath: string;
  readonly certPem: string;
  readonly certDer: Buffer;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo: what Chromium's --ignore-certificate-errors-spki-list takes. */
  readonly spki: string;
  /**
   * Signs a leaf for `names` (DNS names and/or IP addresses; IPs go in IP SANs) with the shared leaf key; async, native.
   * `notAfter` tells a cache when to issue again.
   */
  issueLeaf(names: string[]): Promise<IssuedLeaf>;
  /** The shared leaf private key (PEM), for tls.createSecureContext; never log it. */
  readonly leafKeyPem: string;
}

export interface IssuedLeaf {
  certPem: string;
  notAfter: Date;
}

const CERT_FILE = 'ca.pem';
const CA_KEY_FILE = 'ca-key.pem';
const LEAF_KEY_FILE = 'leaf-key.pem';

const DAY_MS = 24 * 60 * 60 * 1000;
// Backdated a day so that a client whose clock runs behind still accepts a fresh certificate.
const BACKDATE_MS = DAY_MS;
const CA_LIFETIME_MS = 3650 * DAY_MS;
// Chrome (and Apple) refuse leaves valid for more than 398 days; 365 + the day of backdating stays
// well inside. A proxy that runs longer than that re-issues: see LeafCache.
const LEAF_LIFETIME_MS = 365 * DAY_MS;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * The name a leaf is issued for, in the one form the cache keys on: DNS names lower-cased without
 * a trailing dot (`Example.COM.` and `example.com` are one host, RFC 4343 / RFC 1034 3.1), IPv6
 * without brackets or zone and in its canonical compressed form (so `[::1]` and `0:0::1` share a
 * leaf), internationalised names as A-labels. Returns '' when nothing is left.
 */
export function normaliseServerName(name: string): string {
  let value = name.trim();
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1);
  // A zone (fe80::1%eth0) is local to the client and has no place in a certificate.
  if (value.includes(':')) value = value.split('%')[0] ?? '';
  if (isIP(value) === 6) {
    // WHATWG URL serialises IPv6 canonically (RFC 5952): compressed, lower-case, no dotted quad.
    try {
      return new URL(`http://[${value}]/`).hostname.slice(1, -1);
    } catch {
      return value.toLowerCase();
    }
  }
  value = value.toLowerCase().replace(/\.+$/, '');
  // SNI is ASCII already (RFC 6066 3); a CONNECT host might not be. SANs take A-labels (RFC 5280 7.2).
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(value)) value = domainToASCII(value) || value;
  return value;
}

/**
 * Opens the CA in `dir`, creating what is missing: the CA key and certificate, and the leaf key.
 * Existing files are reused as they are; a file that cannot be read or parsed is an ERR_CA with
 * a hint, never silently replaced (clients trust the certificate that is there).
 */
export async function openCa(dir: string, logger: Logger): Promise<CertificateAuthority> {
  const certPath = join(dir, CERT_FILE);
  await ensureDir(dir, logger);

  const existingCert = await readIfPresent(certPath);
  let caKeyPem = await readIfPresent(join(dir, CA_KEY_FILE));
  if (existingCert !== undefined && caKeyPem === undefined) {
    throw new ProgramError(
      'ERR_CA',
      `${certPath} is there but its key ${join(dir, CA_KEY_FILE)} is missing`,
      `restore ${CA_KEY_FILE}, or delete ${CERT_FILE} so that a new CA is created (clients must then trust the new one)`,
    );
  }
  caKeyPem ??= await publish(join(dir, CA_KEY_FILE), await generateKeyPem(), 0o600);
  const caKey = parsePrivateKey(caKeyPem, join(dir, CA_KEY_FILE));

  let certPem = existingCert;
  let created = false;
  if (certPem === undefined) {
    // A key without a certificate is what a run stopped mid-creation (or a concurrent first run)
    // leaves: certify that key rather than refuse. Whoever publishes ca.pem first wins.
    const made = await createCaCertPem(caKey);
    certPem = await publish(certPath, made, 0o644);
    created = certPem === made;
  }
  const cert = parseCertificate(certPem, certPath);
  if (!cert.ca) {
    throw new ProgramError('ERR_CA', `${certPath} is not a CA certificate (basicConstraints CA:false)`, `delete ${CERT_FILE} and ${CA_KEY_FILE} in ${dir} so that a new CA is created`);
  }
  if (!cert.checkPrivateKey(caKey)) {
    throw new ProgramError('ERR_CA', `${certPath} and ${join(dir, CA_KEY_FILE)} do not belong together (the key does not match the certificate)`, `restore the matching pair, or delete both so that a new CA is created`);
  }

  const leafKeyPath = join(dir, LEAF_KEY_FILE);
  const leafKeyPem = (await readIfPresent(leafKeyPath)) ?? (await publish(leafKeyPath, await generateKeyPem(), 0o600));
  const leafKey = parsePrivateKey(leafKeyPem, leafKeyPath);

  await warnIfShared(join(dir, CA_KEY_FILE), logger);
  await warnIfShared(leafKeyPath, logger);

  const certDer = Buffer.from(cert.raw);
  const spki = spkiHash(cert);
  if (created) logger.info({ certPath, spki }, 'CA created');

  const issuer = await prepareIssuer(caKey, certDer, leafKey);
  return {
    dir,
    certPath,
    certPem,
    certDer,
    spki,
    leafKeyPem,
    issueLeaf: issuer,
  };
}

/** What `./proxy ca` prints: the certificate on stdout, how to install it on stderr. */
export function formatCaHelp(ca: CertificateAuthority, format: 'pem' | 'der' | 'spki'): { stdout: string | Buffer; stderr: string } {
  if (format === 'der') return { stdout: ca.certDer, stderr: '' };
  if (format === 'spki') return { stdout: `${ca.spki}\n`, stderr: '' };
  const stderr = [
    `version-proxy CA: ${ca.certPath}`,
    `SPKI SHA-256: ${ca.spki}`,
    'Trust it in the client that talks through the proxy:',
    `  curl      curl --cacert ${ca.certPath} -x http://127.0.0.1:8080 https://host/`,
    `  Node      NODE_EXTRA_CA_CERTS=${ca.certPath} node app.js`,
    `  Chromium  --ignore-certificate-errors-spki-list=${ca.spki}  (or import ca.pem under Settings > Privacy and security > Security > Manage certificates)`,
    `  Windows   certutil -addstore Root ca.pem   (as administrator; -user -addstore Root for the current user only)`,
    '',
  ].join('\n');
  return { stdout: ca.certPem.endsWith('\n') ? ca.certPem : `${ca.certPem}\n`, stderr };
}

// --- issuing -------------------------------------------------------------------------------------

/**
 * Everything about a leaf that does not depend on its names is computed once here (the CA's
 * WebCrypto key, issuer name, AKI, the leaf key's SPKI and SKI), so that an issue costs one ASN.1
 * encoding and one native signature.
 */
async function prepareIssuer(caKey: KeyObject, caDer: Buffer, leafKey: KeyObject): Promise<(names: string[]) => Promise<IssuedLeaf>> {
  const {
    AuthorityKeyIdentifierExtension,
    BasicConstraintsExtension,
    ExtendedKeyUsage,
    ExtendedKeyUsageExtension,
    KeyUsageFlags,
    KeyUsagesExtension,
    PublicKey,
    SubjectAlternativeNameExtension,
    SubjectKeyIdentifierExtension,
    X509Certificate: PeculiarCertificate,
    X509CertificateGenerator,
  } = await loadX509();
  const signing = await importSigningKey(caKey);
  const caCert = new PeculiarCertificate(caDer);
  const caSki = caCert.getExtension(SubjectKeyIdentifierExtension)?.keyId ?? (await SubjectKeyIdentifierExtension.create(caCert.publicKey)).keyId;
  // A leaf never outlives its CA: clients would reject the chain at the CA's end anyway.
  const caNotAfter = caCert.notAfter.getTime();
  const leafPublicKey = new PublicKey(createPublicKey(leafKey).export({ type: 'spki', format: 'der' }));
  const fixed: Extension[] = [
    new BasicConstraintsExtension(false, undefined, true),
    // ECDSA keys only sign in TLS (no RSA key transport), so digitalSignature is the whole need.
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
    new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
    await SubjectKeyIdentifierExtension.create(leafPublicKey),
    new AuthorityKeyIdentifierExtension(caSki),
  ];

  return async (names) => {
    const sans = [...new Set(names.map(normaliseServerName).filter((n) => n.length > 0))];
    if (sans.length === 0) throw new ProgramError('ERR_CA', 'a leaf certificate needs at least one DNS name or IP address', 'pass the server name the client asked for');
    const generalNames: JsonGeneralName[] = sans.map((value) => ({ type: isIP(value) ? 'ip' : 'dns', value }));
    const now = Date.now();
    const notAfter = new Date(Math.min(now + LEAF_LIFETIME_MS, caNotAfter));
    const cert = await X509CertificateGenerator.create({
      // No serialNumber: the library draws 16 random bytes (CA/B Forum asks for >= 64 bits of entropy).
      subject: leafSubject(sans[0]!),
      issuer: caCert.subjectName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      publicKey: leafPublicKey,
      signingKey: signing.key,
      signingAlgorithm: signing.algorithm,
      extensions: [...fixed, new SubjectAlternativeNameExtension(generalNames)],
    });
    return { certPem: cert.toString('pem'), notAfter };
  };
}

/**
 * Clients match names against the SANs only (RFC 6125 6.4.4; Chrome ignores the CN); the CN is for
 * people reading the certificate. Its upper bound is 64 characters (RFC 5280 appendix A).
 */
function leafSubject(first: string): JsonName {
  return [{ O: ['version-proxy'] }, { CN: [first.length <= 64 ? first : 'version-proxy leaf'] }];
}

async function createCaCertPem(caKey: KeyObject): Promise<string> {
  const { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, PublicKey, SubjectKeyIdentifierExtension, X509CertificateGenerator } = await loadX509();
  const signing = await importSigningKey(caKey);
  const publicKey = new PublicKey(createPublicKey(caKey).export({ type: 'spki', format: 'der' }));
  const prefix = 'version-proxy CA (';
  const host = hostname().slice(0, 64 - prefix.length - 1);
  // The host name tells apart the CAs of several machines in one trust store.
  const name: JsonName = [{ O: ['version-proxy'] }, { CN: [`${prefix}${host})`] }];
  const now = Date.now();
  const cert = await X509CertificateGenerator.create({
    subject: name,
    issuer: name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_LIFETIME_MS),
    publicKey,
    signingKey: signing.key,
    signingAlgorithm: signing.algorithm,
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return cert.toString('pem') + '\n';
}

/** New ECDSA P-256 key pair, as a PKCS#8 PEM (what tls.createSecureContext and OpenSSL read). */
async function generateKeyPem(): Promise<string> {
  const pair = await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/**
 * The CA key as a non-extractable WebCrypto key, so signing runs natively off the main thread.
 * A CA key we did not make (RSA, or another curve) is accepted as long as WebCrypto can sign with it.
 */
async function importSigningKey(key: KeyObject): Promise<{ key: webcrypto.CryptoKey; algorithm: { name: string; hash: string } }> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'ec') {
    const namedCurve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (namedCurve !== undefined) return { key: await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']), algorithm: ECDSA_SHA256 };
  } else if (key.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { key: await crypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']), algorithm };
  }
  throw new ProgramError('ERR_CA', `the CA key is of a kind the proxy cannot sign with (${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''})`.trimEnd(), 'use an ECDSA P-256/P-384/P-521 or RSA key, or delete the CA files so that a new CA is created');
}

/** base64 SHA-256 of the DER SubjectPublicKeyInfo (RFC 7469 2.4, the pin format Chromium reads). */
function spkiHash(cert: X509Certificate): string {
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}

// --- files ---------------------------------------------------------------------------------------

async function ensureDir(dir: string, logger: Logger): Promise<void> {
  try {
    // mode applies to the directories this call creates; an existing directory keeps its own.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const info = await stat(dir);
    if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      logger.warn({ dir, mode: (info.mode & 0o777).toString(8) }, 'CA directory is readable by other users; chmod 700 it');
    }
  } catch (err) {
    throw new ProgramError('ERR_CA', `cannot use the CA directory ${dir}: ${describe(err)}`, 'pass a writable directory with --ca-dir');
  }
}

/** Keys we made are 0600; one copied in by hand may not be. Said, not fixed: the file is the user's. */
async function warnIfShared(path: string, logger: Logger): Promise<void> {
  if (process.platform === 'win32') return;
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) logger.warn({ path, mode: mode.toString(8) }, 'CA key file is readable by other users; chmod 600 it');
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProgramError('ERR_CA', `cannot read ${path}: ${describe(err)}`, 'check its owner and permissions, or pass another directory with --ca-dir');
  }
}

/**
 * Writes `text` to `path` unless the file already exists, and returns what `path` then holds.
 * The text goes to a private temporary file first, created with its final mode (a key is never
 * world-readable, not even for a moment), then is hard-linked into place: link() never replaces a
 * file, so two processes creating the CA at once cannot overwrite each other, and a reader never
 * sees a half-written file. The loser reads the winner's file.
 */
async function publish(path: string, text: string, mode: number): Promise<string> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, { mode, flag: 'wx' });
    try {
      await link(temp, path);
      return text;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } catch (err) {
    throw new ProgramError('ERR_CA', `cannot write ${path}: ${describe(err)}`, 'pass a writable directory with --ca-dir');
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  const winner = await readIfPresent(path);
  if (winner === undefined) throw new ProgramError('ERR_CA', `${path} vanished while it was being created`, 'run the command again');
  return winner;
}

function parsePrivateKey(pem: string, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new ProgramError('ERR_CA', `${path} is not a readable private key (${describe(err)})`, `restore it, or delete the CA files in its directory so that a new CA is created (clients must then trust the new one)`);
  }
}

function parseCertificate(pem: string, path: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new ProgramError('ERR_CA', `${path} is not a readable certificate (${describe(err)})`, `restore it, or delete it and ${CA_KEY_FILE} so that a new CA is created (clients must then trust the new one)`);
  }
}

/** An error's message only, never the error object: nothing that could carry file contents. */
function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

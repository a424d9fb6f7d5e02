/**
 * curl for the HTTPS integration tests (issue 5, Acceptance: "curl from Debian, installed by the
 * test set-up when missing"). findCurl() looks on PATH and, when curl is missing and this process
 * runs as root on a machine with apt-get, installs Debian's package; anywhere else it returns the
 * reason to skip. Every child runs through the asynchronous execFile: the proxy under test lives
 * in this same process, and a synchronous child would freeze it mid-handshake.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';

export type CurlLookup = { ok: true; path: string } | { ok: false; reason: string };

export interface CurlResult {
  /** curl's exit code: 0 on success, 35 for a TLS handshake failure, 60 for an untrusted certificate … */
  code: number;
  /** The body (what curl wrote on stdout, less the status marker). */
  body: string;
  /** The final HTTP status, 0 when no response arrived. */
  status: number;
  stderr: string;
}

/** Resolves with `stdout`/`stderr` and the exit code; never rejects on a non-zero exit. */
function run(file: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', ...(env && { env }) }, (error, stdout, stderr) => {
      if (error === null) return resolve({ code: 0, stdout, stderr });
      const code = typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : -1;
      resolve({ code, stdout, stderr, error });
    });
  });
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function lookUp(): Promise<CurlLookup> {
  const found = await onPath('curl');
  if (found !== undefined) return { ok: true, path: found };
  const aptGet = await onPath('apt-get');
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (aptGet === undefined || !root) {
    return { ok: false, reason: `curl is not installed and cannot be installed here (${aptGet === undefined ? 'no apt-get' : 'not running as root'}); install Debian's curl package to run these tests` };
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let install = await run(aptGet, ['install', '-y', '--no-install-recommends', 'curl'], 300_000, env);
  if (install.code !== 0) {
    // A fresh image has no package lists yet.
    await run(aptGet, ['update'], 300_000, env);
    install = await run(aptGet, ['install', '-y', '--no-install-recommends', 'curl'], 300_000, env);
  }
  const installed = await onPath('curl');
  if (installed !== undefined) return { ok: true, path: installed };
  return { ok: false, reason: `curl is not installed and apt-get install -y curl failed (exit ${install.code}): ${install.stderr.trim().split('\n').slice(-3).join(' / ')}` };
}

let lookup: Promise<CurlLookup> | undefined;

/** curl's path, installing it once per process when missing (root + apt-get), or why not. */
export function findCurl(): Promise<CurlLookup> {
  return (lookup ??= lookUp());
}

const STATUS_MARK = '\n@@status=';

/** The environment for curl: no proxy settings or curlrc of the machine's that would change the route. */
function curlEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(https?|all|no|ftp)_proxy$/i.test(name) || /^CURL_(CA_BUNDLE|HOME)$/i.test(name) || name === 'SSL_CERT_FILE' || name === 'SSL_CERT_DIR') continue;
    env[name] = value;
  }
  return env;
}

/**
 * Runs `curl -sS -q ARGS…` (no ~/.curlrc) and reports the exit code, the body, the final HTTP
 * status and stderr. Bounded by curl's own --max-time and by a kill after `timeoutMs`.
 */
export async function curl(curlPath: string, args: string[], timeoutMs = 15_000): Promise<CurlResult> {
  const maxTime = String(Math.max(1, Math.floor(timeoutMs / 1000) - 1));
  const result = await run(curlPath, ['-q', '-sS', '--max-time', maxTime, '--write-out', `${STATUS_MARK}%{http_code}`, ...args], timeoutMs, curlEnv());
  const at = result.stdout.lastIndexOf(STATUS_MARK);
  const body = at >= 0 ? result.stdout.slice(0, at) : result.stdout;
  const status = at >= 0 ? Number(result.stdout.slice(at + STATUS_MARK.length).trim()) || 0 : 0;
  return { code: result.code, body, status, stderr: result.stderr + (result.error && result.code < 0 ? ` (${result.error.message})` : '') };
}

/**
 * The external programs the harness drives: found on PATH, or installed from Debian with
 * apt-get when missing (wrk is not on a fresh machine). A failed install is a clear error,
 * not a half-run benchmark.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runTool } from './proc.js';

/** The absolute path of an executable on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

const APT_TIMEOUT_MS = 10 * 60_000;

async function apt(args: string[]): Promise<{ ok: boolean; output: string }> {
  // Not root: try sudo without a password prompt (a prompt would hang the run).
  const asRoot = process.getuid?.() === 0;
  const sudo = asRoot ? undefined : which('sudo');
  if (!asRoot && sudo === undefined) return { ok: false, output: 'not root and no sudo' };
  const [cmd, fullArgs] = asRoot ? ['apt-get', args] : [sudo!, ['-n', 'apt-get', ...args]];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const result = await runTool(cmd, fullArgs, APT_TIMEOUT_MS, env).catch((err: Error) => ({
    code: 1,
    stdout: '',
    stderr: err.message,
    timedOut: false,
  }));
  const output = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-3).join(' | ');
  return { ok: result.code === 0 && !result.timedOut, output };
}

/** `cmd` from PATH, else from Debian package `pkg`: apt-get install, then `apt-get update` and once more. */
async function findOrInstall(cmd: string, pkg: string, log: (line: string) => void): Promise<{ path?: string; output: string }> {
  const found = which(cmd);
  if (found !== undefined) return { path: found, output: '' };
  log(`${cmd} not found: installing Debian package ${pkg} (apt-get install -y ${pkg})…`);
  let attempt = await apt(['install', '-y', '-q', pkg]);
  if (!attempt.ok) {
    log(`apt-get install failed (${attempt.output}); running apt-get update and trying again…`);
    const update = await apt(['update', '-q']);
    if (update.ok) attempt = await apt(['install', '-y', '-q', pkg]);
  }
  const installed = which(cmd);
  if (!attempt.ok || installed === undefined) return { output: attempt.output };
  log(`installed ${pkg}: ${installed}`);
  return { path: installed, output: attempt.output };
}

/** A program the benchmark cannot run without (wrk, curl): found or installed, else a clear error. */
export async function ensureTool(cmd: string, pkg: string, log: (line: string) => void): Promise<string> {
  const { path: found, output } = await findOrInstall(cmd, pkg, log);
  if (found !== undefined) return found;
  throw new Error(
    `${cmd} is required and could not be installed (${output}). ` +
      `Install it yourself (Debian/Ubuntu: apt-get install ${pkg}) and run the benchmark again.`,
  );
}

/**
 * A program the benchmark only compares against (mitmdump): found or installed like the others,
 * but when that fails its rows are skipped instead of the run stopping.
 */
export async function offerTool(cmd: string, pkg: string, log: (line: string) => void): Promise<string | undefined> {
  const { path: found, output } = await findOrInstall(cmd, pkg, log);
  if (found === undefined) log(`${cmd} could not be installed (${output}): its rows are skipped`);
  return found;
}

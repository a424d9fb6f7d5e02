/**
 * Child processes for the harness: every one is registered so that a normal end, an error or
 * Ctrl-C kills it, and every wait on one is bounded by a timeout. Long-running services write
 * their output to files (a pipe nobody drains would stall them); short tools are captured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set<ChildProcess>();

/** Kill every child still alive; synchronous so it can run from process.on('exit'). */
export function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** The environment for tools, without proxy variables that would reroute curl or wrk. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(https?|all|no|ftp)_proxy$/i.test(key)) delete env[key];
  }
  return env;
}

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run a short-lived tool to its end (or kill it at the deadline), capturing its output. */
export function runTool(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = cleanEnv()): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    track(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

export interface Service {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Where its stdout and stderr go. */
  logFile: string;
  /** Resolves when the process has exited, however. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start a long-running process with stdout+stderr appended to a fresh log file. */
export function startService(name: string, cmd: string, args: string[], logFile: string): Service {
  const fd = fs.openSync(logFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: cleanEnv() });
  } finally {
    fs.closeSync(fd);
  }
  track(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  return { name, child, pid: child.pid, logFile, exited };
}

export function isRunning(service: Service): boolean {
  return service.child.exitCode === null && service.child.signalCode === null;
}

function lastLines(file: string, n: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join(' | ').slice(0, 400);
  } catch {
    return '';
  }
}

/**
 * Wait for the JSON line {"msg":"listening","port":N} in the service's log (our proxy's pino
 * line has that shape, and the bench helpers print the same). Fails early if the process exits.
 */
export async function waitForListening(service: Service, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = fs.readFileSync(service.logFile, 'utf8');
    for (const line of text.split('\n')) {
      if (!line.includes('"listening"')) continue;
      try {
        const parsed = JSON.parse(line) as { msg?: unknown; port?: unknown };
        if (parsed.msg === 'listening' && typeof parsed.port === 'number') return parsed.port;
      } catch {
        // A line still being written; read again on the next round.
      }
    }
    if (!isRunning(service)) {
      const code = service.child.exitCode ?? service.child.signalCode;
      throw new Error(`${service.name} exited (${String(code)}) before listening: ${lastLines(service.logFile, 3) || 'no output'}`);
    }
    await sleep(50);
  }
  throw new Error(`${service.name} did not log "listening" within ${timeoutMs / 1000} s: ${lastLines(service.logFile, 3) || 'no output'}`);
}

/** For programs that print nothing once listening (mitmdump -q): wait until a connect works. */
export async function waitForPort(service: Service, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(service)) throw new Error(`${service.name} exited before listening: ${lastLines(service.logFile, 3) || 'no output'}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${service.name} did not accept connections on port ${port} within ${timeoutMs / 1000} s`);
}

/** A port that was free a moment ago, for programs that cannot be told to pick one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address !== null && typeof address !== 'string' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * SIGTERM, then SIGKILL if it is still there after graceMs. Returns a note when the exit was
 * not clean (a proxy that does not stop on SIGTERM, or stops with an error, is worth knowing).
 */
export async function stopService(service: Service, graceMs: number): Promise<string | undefined> {
  if (!isRunning(service)) {
    const { code, signal } = await service.exited;
    return `had already exited (${code !== null ? `code ${code}` : String(signal)}) before SIGTERM`;
  }
  service.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  const result = await Promise.race([service.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    service.child.kill('SIGKILL');
    await service.exited;
    return `did not exit within ${graceMs / 1000} s of SIGTERM (killed)`;
  }
  if (result.code === 0 || result.signal === 'SIGTERM') return undefined;
  return `exited with ${result.code !== null ? `code ${result.code}` : String(result.signal)} on SIGTERM`;
}

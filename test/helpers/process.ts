/**
 * Helpers for tests that run the proxy as a child process (`node dist/src/cli.js …`) and look at
 * it from outside: its pino JSON lines on stderr, its exit code, the sockets it holds open
 * (/proc/<pid>/fd); plus a free-then-closed port and a client that reports a broken answer as
 * data instead of throwing. Upstreams and raw clients live in servers.ts and client.ts.
 *
 * Everything here is bounded in time: every wait takes a timeout and rejects with a message that
 * says what was awaited, so a hung proxy fails a test instead of hanging the run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { delay, withTimeout } from './client.js';

export { delay, withTimeout };

/** The repository root: this file compiles to dist/test/helpers/process.js. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export type LogLine = Record<string, unknown>;

/** Polls `check` until it returns something other than undefined/false, or rejects after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 5000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CliResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

/** Non-empty lines of a text, trailing whitespace ignored. */
export function linesOf(text: string): string[] {
  return text.split('\n').map((line) => line.trimEnd()).filter((line) => line.length > 0);
}

/**
 * Runs a command to completion (stdin closed) and returns its exit status and output. Kills it
 * with SIGKILL after `timeoutMs` and rejects, so a command that hangs fails the test.
 */
export function runCommand(command: string, args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr so far: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `node dist/src/cli.js ARGS…` to completion. */
export function runCli(args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return runCommand(process.execPath, [CLI, ...args], options);
}

/**
 * The environment for children: the test runner's, less what would change how the proxy logs
 * or behaves (a forced TTY/colour, NODE_OPTIONS set by the runner such as --test flags).
 */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  delete env.FORCE_COLOR;
  return env;
}

/** A proxy started as `node dist/src/cli.js ARGS…`, with its stderr parsed as pino JSON lines. */
export class ProxyProcess {
  readonly child: ChildProcess;
  /** Every stderr line that parsed as a JSON object, in order. */
  readonly lines: LogLine[] = [];
  /** All of stderr, for failure messages and for lines that are not JSON. */
  stderr = '';
  stdout = '';
  readonly exited: Promise<ExitStatus>;
  /** Set once the process has exited. */
  exitStatus: ExitStatus | undefined;
  /** Date.now() when the process exited. */
  exitedAt: number | undefined;
  private partial = '';
  port = 0;
  host = '';

  private constructor(args: string[], nodeArgs: string[] = []) {
    this.child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => (this.stdout += text));
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => this.onStderr(text));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.exitedAt = Date.now();
        resolve(this.exitStatus);
      });
    });
  }

  /**
   * Starts the CLI and resolves once it has logged `"msg":"listening"`; rejects (and kills the
   * child) when it exits first or does not listen within `timeoutMs`. `nodeArgs` go to node
   * before the script (e.g. `--expose-gc`).
   */
  static async start(args: string[], timeoutMs = 15_000, nodeArgs: string[] = []): Promise<ProxyProcess> {
    // Tests that are not about recording keep no journal (the CLI's default is recordings/).
    const records = args[0] !== 'start' || args.some((a) => a === '--record' || a === '--no-record');
    // Nor a control server, unless the test is about it: the default 127.0.0.1:8089 is one port for
    // every proxy of a parallel run (and its token file would go to ~/.version-proxy).
    const controls = args[0] !== 'start' || args.some((a) => a === '--control' || a === '--no-control');
    const proxy = new ProxyProcess([...args, ...(records ? [] : ['--no-record']), ...(controls ? [] : ['--no-control'])], nodeArgs);
    try {
      const listening = await Promise.race([
        proxy.waitForLine('the "listening" log line', (line) => line.msg === 'listening', timeoutMs),
        proxy.exited.then((status) => {
          throw new Error(`the proxy exited (${JSON.stringify(status)}) before listening; stderr: ${proxy.stderr}`);
        }),
      ]);
      proxy.port = portOf(listening);
      proxy.host = hostOf(listening);
      if (!(proxy.port > 0)) throw new Error(`no port in the listening line: ${JSON.stringify(listening)}`);
      return proxy;
    } catch (err) {
      await proxy.kill();
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** `http://127.0.0.1:PORT` (brackets for IPv6). */
  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** Resolves with the first line (already seen or to come) that satisfies `predicate`. */
  waitForLine(what: string, predicate: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
    return waitFor(what, () => this.lines.find(predicate), timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}; stderr: ${this.stderr.slice(-4000)}`);
    });
  }

  /** Sends a signal and waits for the exit (SIGKILL and reject after `timeoutMs`). */
  async signalAndWait(signal: NodeJS.Signals, timeoutMs: number): Promise<ExitStatus> {
    if (this.running) this.child.kill(signal);
    return this.waitForExit(timeoutMs, `the proxy to exit after ${signal}`);
  }

  /** Waits for the exit without signalling; SIGKILL and reject after `timeoutMs`. */
  async waitForExit(timeoutMs: number, what = 'the proxy to exit'): Promise<ExitStatus> {
    try {
      return await withTimeout(this.exited, timeoutMs, what);
    } catch (err) {
      this.child.kill('SIGKILL');
      throw err;
    }
  }

  /** Ends the child whatever its state: SIGTERM, then SIGKILL after 3 s. Never rejects. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const status = await Promise.race([this.exited, delay(3000).then(() => undefined)]);
    if (status === undefined) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  private onStderr(text: string): void {
    this.stderr += text;
    this.partial += text;
    let newline: number;
    while ((newline = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, newline).trim();
      this.partial = this.partial.slice(newline + 1);
      if (!line.startsWith('{')) continue;
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) this.lines.push(parsed as LogLine);
      } catch {
        // not a log line (a stack trace, a message from ensure.sh): kept in `stderr` only
      }
    }
  }
}

function portOf(line: LogLine): number {
  if (typeof line.port === 'number') return line.port;
  const address = line.address as { port?: unknown } | undefined;
  if (address !== null && typeof address === 'object' && typeof address.port === 'number') return address.port;
  if (typeof line.url === 'string') return Number(new URL(line.url).port);
  return 0;
}

function hostOf(line: LogLine): string {
  if (typeof line.url === 'string') return new URL(line.url).hostname.replace(/^\[|\]$/g, '');
  const address = line.address as { host?: unknown; address?: unknown } | undefined;
  if (address !== null && typeof address === 'object') {
    if (typeof address.host === 'string') return address.host;
    if (typeof address.address === 'string') return address.address;
  }
  return '127.0.0.1';
}

// ---------------------------------------------------------------------------------------------
// Sockets of a process

/** The `socket:[inode]` entries among /proc/<pid>/fd: TCP sockets and the stdio socketpairs. */
export function socketFds(pid: number): string[] {
  const found: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return found; // the process has gone
  }
  for (const fd of entries) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link.startsWith('socket:[')) found.push(`${fd} -> ${link}`);
    } catch {
      // closed between readdir and readlink
    }
  }
  return found;
}

export function countSockets(pid: number): number {
  return socketFds(pid).length;
}

/** Waits until the process holds at most `expected` sockets; resolves with the last count. */
export async function waitForSocketCount(pid: number, expected: number, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = countSockets(pid);
  while (count > expected && Date.now() < deadline) {
    await delay(50);
    count = countSockets(pid);
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// Ports and upstreams

/** Listens on 127.0.0.1:0 and resolves with the server once it listens. */
export function listen<S extends net.Server>(server: S): Promise<S> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function serverPort(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/** A port on 127.0.0.1 that was free a moment ago and has nobody listening on it now. */
export async function closedPort(): Promise<number> {
  const server = await listen(net.createServer());
  const port = serverPort(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// A client that reports failure instead of throwing it

export interface ClientOutcome {
  /** Set when a response head arrived. */
  statusCode: number | undefined;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** True when the whole body arrived (the response's framing said it was complete). */
  complete: boolean;
  /** The request or response error, if any (ECONNRESET, 'aborted' …). */
  error: Error | undefined;
}

/**
 * One request through the proxy with node's http client on its own connection (no agent). In
 * forward mode `target` is the absolute URL to ask the proxy for; in reverse mode a path.
 * Never rejects: errors are part of the outcome, because failure is what these tests look at.
 */
export function tryRequest(
  proxyPort: number,
  target: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<ClientOutcome> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const outcome: ClientOutcome = { statusCode: undefined, headers: {}, body: Buffer.alloc(0), complete: false, error: undefined };
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome.body = Buffer.concat(chunks);
      req.destroy();
      resolve(outcome);
    };
    const headers: Record<string, string> = { ...options.headers };
    if (/^https?:\/\//.test(target) && !Object.keys(headers).some((name) => name.toLowerCase() === 'host')) {
      headers.Host = new URL(target).host;
    }
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: options.method ?? 'GET', path: target, headers, agent: false });
    const timer = setTimeout(() => {
      outcome.error ??= new Error(`no complete answer within ${timeoutMs} ms`);
      done();
    }, timeoutMs);
    req.on('error', (err) => {
      outcome.error ??= err;
      done();
    });
    req.on('response', (res) => {
      outcome.statusCode = res.statusCode;
      outcome.headers = res.headers;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('aborted', () => (outcome.error ??= new Error('response aborted')));
      res.on('error', (err) => (outcome.error ??= err));
      res.on('end', () => {
        outcome.complete = res.complete;
        done();
      });
      res.on('close', () => {
        if (!res.complete) outcome.error ??= new Error('connection closed before the response was complete');
        done();
      });
    });
    req.end(options.body);
  });
}

/**
 * The rows of the table: what each subject is, how it is started, and how clients reach it.
 * "origin" subjects stand in for the upstream (clients talk to them as to the upstream);
 * "forward" subjects are HTTP proxies (absolute-form requests, curl -x).
 */
import fs from 'node:fs';
import path from 'node:path';
import { addRuntimeRules, ControlClient, controlStartArgs, controlUrlFromLog, rulesInForce, tokenFileFor, type ControlChecks } from './control.js';
import { startSubscriber } from './feed-row.js';
import { freshCaDir, httpsProxyArgs, proxyCaPem, waitForMitmproxyCa, type HttpsUpstream } from './https.js';
import { freePort, startService, stopService, waitForListening, waitForPort, type Service } from './proc.js';
import { recordJournalPath, removeRecordJournal } from './record-row.js';
import { which } from './tools.js';
import type { Traffic } from './wrk.js';

export const SUBJECT_IDS = [
  'direct',
  'floor',
  'relay',
  'forward',
  'forward-record',
  'forward-https',
  'forward-rules100',
  'forward-control-idle',
  'forward-control',
  'forward-rules100-runtime',
  'forward-mapi',
  'forward-mapi-plain',
  'reverse',
  'mitmdump',
  'mitmdump-https',
] as const;
export type SubjectId = (typeof SUBJECT_IDS)[number];

export interface Subject {
  id: SubjectId;
  label: string;
  mode: 'origin' | 'forward';
  /** What the load phase sends: `GET /small` (the default), MAPI/HTTP Execute requests, or the
   * same bytes disguised so that the proxy's MAPI/HTTP observer does not claim them. */
  traffic?: Traffic;
  /** Only the small-response load is measured: no large streams (their cells say "–"). */
  loadOnly?: boolean;
  /** Why the row cannot run on this machine (e.g. mitmdump not installed). */
  unavailable?: string;
  /** Our proxy runs with `--rules` on this file (under bench/rules/), none of which may apply to the
   * load: the row checks the log for the rules loaded and for exchanges that list a rule. */
  rules?: { file: string; count: number };
  /** Issue 5: the load is bench/https-load.ts (a Node client: wrk cannot CONNECT), HTTPS through
   * CONNECT + TLS to the HTTPS upstream, alternating with the same client's plain HTTP through the
   * same process. The row shows the HTTPS side; its baseline is the plain side. */
  client?: 'node-https';
  /** Issue 22: our proxy with its control server up (`--control`, not --no-control): with one live
   * feed subscriber reading every event (`feed`), or with `runtimeRules` (the rules of this file
   * under bench/rules/, none of which may apply to the load) added through `POST /api/rules`. */
  control?: { feed?: true; runtimeRules?: { file: string; count: number } };
}

export interface Context {
  root: string;
  workDir: string;
  upstreamPort: number;
  /** The HTTPS upstream (bench/https-upstream.ts), when an HTTPS row or probe was selected. */
  https?: HttpsUpstream;
  /** wrk, as found or installed (probes that run it: bench/interleaved.ts). */
  wrk?: string;
}

export interface Running {
  port: number;
  /** The process whose RSS is measured; none for direct. */
  pid?: number;
  service?: Service;
  /** The CA a client must trust for this subject's intercepted TLS (PEM): HTTPS rows only. */
  clientCa?: string;
  /** Stops it; returns a note when it did not stop cleanly. */
  stop(): Promise<string | undefined>;
  /** Subjects with a control server: what it says once the load is done, asked before stop(). */
  controlChecks?(): Promise<ControlChecks>;
}

const START_TIMEOUT_MS = 20_000;

/** The 100 rules of the `forward-rules100` row (issue 4), none of which matches `GET /small`. */
export const HUNDRED_RULES = 'hundred-nonmatching.yaml';

/** Rule files used by the bench live in the source tree (bench/rules/), not under dist/. */
export function benchRulesFile(ctx: Pick<Context, 'root'>, name: string): string {
  return path.join(ctx.root, 'bench', 'rules', name);
}

/** Seed for every proxy started with --rules: none of the bench's rules rolls a chance that
 * matters, but a fixed seed keeps the runs the same. */
export const BENCH_SEED = '1';
// Our proxy waits up to its grace time (5 s by default) for exchanges in flight; none are.
const STOP_TIMEOUT_MS = 10_000;

export function subjects(): Subject[] {
  const mitmdump = which('mitmdump');
  return [
    { id: 'direct', label: 'direct', mode: 'origin' },
    { id: 'floor', label: 'floor (http-proxy)', mode: 'forward' },
    { id: 'relay', label: 'relay (TCP)', mode: 'origin' },
    { id: 'forward', label: 'proxy forward', mode: 'forward' },
    // Issue 6: the same process, options and load, recording a journal (bodies up to 1 MiB each
    // way, redacted); the streams too, since capturing is on every body that passes.
    { id: 'forward-record', label: 'proxy forward, recording (--record)', mode: 'forward' },
    // Issue 5: the same proxy, options and 1 KiB answers, the client's TLS intercepted with a leaf
    // of a fresh CA, the upstream's TLS verified against the bench's test CA (--upstream-ca).
    {
      id: 'forward-https',
      label: 'proxy forward HTTPS (Node client, CONNECT + TLS)',
      mode: 'forward',
      loadOnly: true,
      client: 'node-https',
    },
    // Issue 4: the same process, options and load with 100 loaded rules that match none of it.
    // Load only: the acceptance is about req/s, and the streams meet the same rule decisions.
    {
      id: 'forward-rules100',
      label: 'proxy forward (100 rules, none matching)',
      mode: 'forward',
      loadOnly: true,
      rules: { file: HUNDRED_RULES, count: 100 },
    },
    // Issue 22: exactly `forward` with the control server up, nobody using it: the baseline of the
    // runtime rules row, and what the control plane alone costs (its exchange ring, counts, hits).
    { id: 'forward-control-idle', label: 'proxy forward, control server up (idle)', mode: 'forward', loadOnly: true, control: {} },
    // Issue 22: exactly `forward`, with the control server up and one live feed subscriber (a
    // process of its own) reading every event of the load. Load only, as the rules row.
    { id: 'forward-control', label: 'proxy forward, control server + 1 feed subscriber', mode: 'forward', loadOnly: true, control: { feed: true } },
    // Issue 22: the 100 rules of the rules row, added through the control API after start.
    {
      id: 'forward-rules100-runtime',
      label: 'proxy forward (100 runtime rules, none matching)',
      mode: 'forward',
      loadOnly: true,
      control: { runtimeRules: { file: HUNDRED_RULES, count: 100 } },
    },
    // The same proxy process, under MAPI/HTTP-shaped load (issue 3): its protocol observer parses
    // every exchange, which plain pass-through does not pay.
    { id: 'forward-mapi', label: 'proxy forward (MAPI)', mode: 'forward', traffic: 'mapi', loadOnly: true },
    // Its baseline: the same request and response bytes, which the observer does not claim (other
    // path, Content-Type and X-RequestType name). A POST with a body and a chunked three-write
    // answer cost more than `GET /small` before any observing; this row measures that shape alone.
    {
      id: 'forward-mapi-plain',
      label: 'proxy forward (MAPI shape, unobserved)',
      mode: 'forward',
      traffic: 'mapi-plain',
      loadOnly: true,
    },
    { id: 'reverse', label: 'proxy reverse', mode: 'origin' },
    {
      id: 'mitmdump',
      label: 'mitmdump forward',
      mode: 'forward',
      ...(mitmdump === undefined ? { unavailable: 'skipped: mitmdump is not on PATH' } : {}),
    },
    // Issue 5: mitmdump intercepting the same HTTPS load with its own CA (fresh confdir).
    {
      id: 'mitmdump-https',
      label: 'mitmdump forward HTTPS (Node client, CONNECT + TLS)',
      mode: 'forward',
      loadOnly: true,
      client: 'node-https',
      ...(mitmdump === undefined ? { unavailable: `skipped: ${MITMDUMP_ABSENT}` } : {}),
    },
  ];
}

/** What the HTTPS lines say when mitmdump is absent (not on PATH, and Debian's mitmproxy could not be installed). */
export const MITMDUMP_ABSENT = 'mitmdump not installed';

/** The rows that run our proxy (dist/src/cli.js), whose log the harness reads afterwards. */
export function isOurProxy(id: SubjectId): boolean {
  return id === 'forward' || id === 'forward-record' || id === 'forward-https' || id === 'forward-rules100' || id === 'forward-control-idle' || id === 'forward-control' || id === 'forward-rules100-runtime' || id === 'forward-mapi' || id === 'forward-mapi-plain' || id === 'reverse';
}

/**
 * How every row and probe starts our proxy, as `proxy forward` does. `./proxy start` records a
 * journal by default (issue 6); the pass-through rows and their targets predate recording and
 * are about pass-through, so they say --no-record, and only `forward-record` records. They say
 * --no-control too: the control server's default port is one for every proxy started.
 */
export const PROXY_START = ['start', '--listen', '127.0.0.1:0', '--log-level', 'info', '--no-record', '--no-control'];

async function nodeService(ctx: Context, name: string, script: string, args: string[]): Promise<Running> {
  return service(ctx, name, process.execPath, [script, ...args]);
}

/** Our proxy through ./proxy (as a user runs it), its output in .bench/NAME.log. */
export async function proxyService(ctx: Context, name: string, args: string[]): Promise<Running> {
  return service(ctx, name, path.join(ctx.root, 'proxy'), args);
}

async function service(ctx: Context, name: string, command: string, args: string[]): Promise<Running> {
  const service = startService(name, command, args, path.join(ctx.workDir, `${name}.log`));
  try {
    const port = await waitForListening(service, START_TIMEOUT_MS);
    return { port, pid: service.pid, service, stop: () => stopService(service, STOP_TIMEOUT_MS) };
  } catch (err) {
    await stopService(service, 2000);
    throw err;
  }
}

export async function startSubject(subject: Subject, ctx: Context): Promise<Running> {
  const bench = path.join(ctx.root, 'dist', 'bench');
  const cli = path.join(ctx.root, 'dist', 'src', 'cli.js');
  if (isOurProxy(subject.id) && !fs.existsSync(cli)) {
    throw new Error('dist/src/cli.js does not exist (the proxy is not built yet)');
  }
  switch (subject.id) {
    case 'direct':
      return { port: ctx.upstreamPort, stop: () => Promise.resolve(undefined) };
    case 'floor':
      return nodeService(ctx, 'floor', path.join(bench, 'floor-proxy.js'), ['0']);
    case 'relay':
      return nodeService(ctx, 'relay', path.join(bench, 'relay.js'), ['0', String(ctx.upstreamPort)]);
    // Our proxy exactly as a user runs it: the ./proxy entry (its node flags included; it execs
    // node, so the pid is the proxy's), info logging to a file.
    case 'forward':
      return proxyService(ctx, 'proxy-forward', PROXY_START);
    // Exactly `forward` with a journal instead of --no-record (a file named by the user is appended
    // to, so a journal left by an interrupted run goes first); the harness reads and deletes it
    // after the row (record-row.ts).
    case 'forward-record': {
      removeRecordJournal(ctx.workDir);
      const args = PROXY_START.filter((a) => a !== '--no-record');
      return proxyService(ctx, 'proxy-forward-record', [...args, '--record', recordJournalPath(ctx.workDir)]);
    }
    // Exactly `forward` plus --rules (and a fixed --seed); its own log, checked for rules applied.
    case 'forward-rules100':
      return proxyService(ctx, 'proxy-forward-rules100', [
        ...PROXY_START,
        '--rules',
        benchRulesFile(ctx, HUNDRED_RULES),
        '--seed',
        BENCH_SEED,
      ]);
    case 'forward-control-idle':
      return startWithControl(ctx, 'proxy-forward-control-idle', []);
    case 'forward-control':
      return startWithFeed(ctx);
    case 'forward-rules100-runtime':
      return startWithRuntimeRules(ctx, benchRulesFile(ctx, HUNDRED_RULES), 100);
    // Exactly the configuration of `forward`; its own log, so its MAPI lines can be counted.
    case 'forward-mapi':
      return proxyService(ctx, 'proxy-forward-mapi', PROXY_START);
    // The same again; its own log, so that it can be checked to have no MAPI (no "proto") lines.
    case 'forward-mapi-plain':
      return proxyService(ctx, 'proxy-forward-mapi-plain', PROXY_START);
    case 'reverse':
      return proxyService(ctx, 'proxy-reverse', [
        ...PROXY_START,
        '--target',
        `http://127.0.0.1:${ctx.upstreamPort}`,
      ]);
    case 'mitmdump':
      return startMitmdump(ctx, 'mitmdump', []);
    // Our proxy as `forward`, plus a fresh CA directory (the CA made by `./proxy ca`, as a user
    // does, so the client can be given it) and the HTTPS upstream's test CA.
    case 'forward-https': {
      const https = needHttps(ctx);
      const caDir = freshCaDir(https, 'forward-https');
      const clientCa = await proxyCaPem(ctx.root, caDir);
      return { ...(await proxyService(ctx, 'proxy-forward-https', httpsProxyArgs(caDir, https))), clientCa };
    }
    // mitmdump with a fresh confdir (its CA is made there at start), trusting the upstream's test CA.
    case 'mitmdump-https': {
      const https = needHttps(ctx);
      const confdir = fs.mkdtempSync(path.join(https.dir, 'mitmproxy-'));
      const running = await startMitmdump(ctx, 'mitmdump-https', ['--set', `confdir=${confdir}`, '--set', `ssl_verify_upstream_trusted_ca=${https.caFile}`]);
      try {
        return { ...running, clientCa: await waitForMitmproxyCa(confdir, running.service!, START_TIMEOUT_MS) };
      } catch (err) {
        await running.stop();
        throw err;
      }
    }
  }
}

/** Issue 22: `forward` with its control server on a free port, the token in `.bench/NAME.token` (deleted after). */
async function startWithControl(ctx: Context, name: string, extra: string[]): Promise<Running & { tokenFile: string }> {
  const tokenFile = tokenFileFor(ctx.workDir, name);
  fs.rmSync(tokenFile, { force: true });
  const running = await proxyService(ctx, name, [...controlStartArgs(PROXY_START, tokenFile), ...extra]);
  return {
    ...running,
    tokenFile,
    stop: async () => {
      const note = await running.stop();
      fs.rmSync(tokenFile, { force: true });
      return note;
    },
  };
}

/**
 * Issue 22: `forward` with its control server, then one feed subscriber connected to
 * `GET /api/events` before the warm-up. A proxy whose feed refuses the upgrade still runs (its
 * control server up) and the row says why it has no subscriber.
 */
async function startWithFeed(ctx: Context): Promise<Running> {
  const running = await startWithControl(ctx, 'proxy-forward-control', []);
  const tokenFile = running.tokenFile;
  let subscriber: Awaited<ReturnType<typeof startSubscriber>> | undefined;
  let feedError: string | undefined;
  try {
    subscriber = await startSubscriber(ctx.root, ctx.workDir, 'feed-subscriber', controlUrlFromLog(running.service!.logFile), tokenFile);
  } catch (err) {
    feedError = err instanceof Error ? err.message : String(err);
  }
  return {
    ...running,
    controlChecks: async () => {
      if (subscriber === undefined) return { feedError: feedError ?? 'no subscriber' };
      try {
        return { feed: await subscriber.counts() };
      } catch (err) {
        return { feedError: err instanceof Error ? err.message : String(err) };
      }
    },
    stop: async () => {
      await subscriber?.stop();
      return running.stop();
    },
  };
}

/**
 * Issue 22: `forward-rules100`'s rules, but none on the command line: `forward` with its control
 * server, then each rule of the file sent through `POST /api/rules` (JSON) before the warm-up, and
 * `GET /api/rules` must list them all as runtime rules (or the subject fails to start).
 */
async function startWithRuntimeRules(ctx: Context, file: string, count: number): Promise<Running> {
  const running = await startWithControl(ctx, 'proxy-forward-rules100-runtime', ['--seed', BENCH_SEED]);
  const client = ControlClient.fromRun(running.service!.logFile, running.tokenFile);
  const stop = async (): Promise<string | undefined> => {
    client.close();
    return running.stop();
  };
  try {
    await addRuntimeRules(client, file);
    const before = await rulesInForce(client);
    if (before.runtime !== count || before.total !== count) throw new Error(`GET /api/rules lists ${before.runtime} runtime rules of ${before.total} after ${count} were added`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ...running,
    controlChecks: async () => {
      try {
        return { rules: await rulesInForce(client) };
      } catch (err) {
        return { rulesError: err instanceof Error ? err.message : String(err) };
      }
    },
    stop,
  };
}

function needHttps(ctx: Context): HttpsUpstream {
  if (ctx.https === undefined) throw new Error('the HTTPS upstream is not running');
  return ctx.https;
}

async function startMitmdump(ctx: Context, name: string, extra: string[]): Promise<Running> {
  // mitmdump cannot pick its own port and prints nothing with -q: choose one, poll it.
  const port = await freePort();
  const service = startService(name, 'mitmdump', [
    '--listen-host',
    '127.0.0.1',
    '--listen-port',
    String(port),
    '-q',
    // By default mitmproxy buffers whole bodies; streaming above 1 MB is needed for the
    // large phases and changes nothing for 1 KiB answers, so one process serves both.
    '--set',
    'stream_large_bodies=1m',
    ...extra,
  ], path.join(ctx.workDir, `${name}.log`));
  try {
    await waitForPort(service, port, START_TIMEOUT_MS);
  } catch (err) {
    await stopService(service, 2000);
    throw err;
  }
  return { port, pid: service.pid, service, stop: () => stopService(service, STOP_TIMEOUT_MS) };
}

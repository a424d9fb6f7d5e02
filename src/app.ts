/**
 * Composition root: builds the proxy from a typed config and an injected logger, opens the
 * listening socket, and subscribes the log line to 'finished'. Later layers (journal, rules,
 * TLS, control API) are wired here too; nothing below knows about each other.
 */
import type { Logger } from 'pino';
import { DEFAULTS, defaultMaxConnections, isLoopback, type ProxyConfig, type RedactionConfig } from './config.js';
import { durationOf, type Exchange, type Verdict } from './core/exchange.js';
import { originUrl } from './core/origin.js';
import { ProgramError } from './errors.js';
import { createProxyServer, type ProxyServer } from './proxy/server.js';
import { ClientAccess, DEFAULT_ALLOW } from './proxy/client-access.js';
import { loadUpstreamTls } from './proxy/upstream-tls.js';
import { createInterception } from './tls/interception.js';
import { compileRules, EMPTY_RULES, type RuleSet } from './rules/compile.js';
import { randomSeed } from './rules/random.js';
import type { RuleStore } from './rules/store.js';
import { LiveRules } from './rules/live-rules.js';
import { exchangeLineParts } from './record/exchange-json.js';
import { Journal } from './record/journal.js';
import { JournalLineReader } from './record/journal-line-reader.js';
import { resolveFile } from './record/journal-files.js';
import { RecordingGuard } from './record/recording-guard.js';
import { createRedactor, type Redactor } from './record/redact.js';
import { TOOL } from './core/tool.js';
import { startControl, type ControlPlane } from './control/plane.js';
import type { RecordingLosses } from './control/metrics.js';

export interface App {
  proxy: ProxyServer;
  address: { host: string; port: number };
  /** `http://host:port` of the listening socket. */
  url: string;
  /** The live rule set, when --rules was given (reload() for SIGHUP). */
  rules?: RuleStore<RuleSet>;
  /** The seed behind every `chance` decision of this run. */
  seed: number;
  /** The journal, when recording (`journal.file` is the file being written now). */
  journal?: Journal;
  /** The control server, unless --no-control (its base URL, token and token file). */
  control?: ControlPlane;
  /** What leaves the process is redacted by this (journal, logs). */
  redactor: Redactor;
  close(graceMs?: number): Promise<void>;
}

export async function startApp(config: ProxyConfig, logger: Logger): Promise<App> {
  const seed = config.seed ?? randomSeed();
  // The rule store (and the YAML parser behind it, ~7 MB of RSS) is loaded only for --rules.
  const rules = config.rules === undefined || config.rules.length === 0 ? undefined : await (await import('./rules/store.js')).RuleStore.open<RuleSet>({
    paths: config.rules,
    load: { respondFiles: { anywhere: config.rulesFilesAnywhere === true } },
    compile: (defs, previous) => compileRules(defs, { seed }, previous),
    logger,
  });
  if (config.tls === true && (config.target === undefined || config.interception === undefined)) {
    throw new ProgramError('ERR_BAD_OPTION', '--tls serves reverse mode only, with a leaf from the CA', 'add --target URL (and keep --ca-dir), or drop --tls');
  }
  // With the control API, file rules share the proxy's one rule set with runtime and scope rules.
  const live = config.control === undefined ? undefined : new LiveRules({
    seed,
    logger,
    ...(rules !== undefined && { files: { current: rules.current, onReload: (listener: (set: RuleSet) => void) => void rules.on('reloaded', listener) } }),
  });
  const interception = config.interception === undefined ? undefined : createInterception(config.interception, logger);
  const redaction = config.redaction ?? { enabled: true, extraHeaders: [] };
  const redactor = createRedactor(redaction);
  const proxy = createProxyServer({
    ...(config.tls === true && interception !== undefined && { tlsListener: (name: string) => interception.context(name) }),
    upstreamTls: await loadUpstreamTls({ caFiles: config.upstreamCa ?? [], ...(config.insecureUpstream !== undefined && { insecure: config.insecureUpstream }) }),
    ...(interception !== undefined && { intercept: interception }),
    rules: live !== undefined ? () => live.current : rules === undefined ? () => EMPTY_RULES : () => rules.current,
    target: config.target,
    keepHost: config.keepHost,
    forwarded: config.forwarded,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    headTimeoutMs: config.headTimeoutMs ?? DEFAULTS.headTimeoutSeconds * 1000,
    idleTimeoutMs: config.idleTimeoutMs ?? DEFAULTS.idleTimeoutSeconds * 1000,
    maxConnections: config.maxConnections ?? defaultMaxConnections(),
    logger,
    // The journal's bodies, or the control API's (GET /api/exchanges/{id} has them without a journal too).
    captureBytes: config.record?.captureBytes ?? config.control?.captureBytes ?? 0,
    recording: config.record !== undefined,
    redactChanges: (changes) => redactor.changes(changes),
    ...(config.allow !== undefined && { access: new ClientAccess(config.allow) }),
    redactHead: (text) => redactor.headText(text),
  });
  proxy.events.on('finished', (exchange) => logExchange(logger, exchange, redactor));

  let address;
  try {
    address = await proxy.listen(config.listen.host, config.listen.port);
  } catch (err) {
    rules?.close();
    // A ProgramError already says what is wrong (a bad --ca-dir for --tls): not a listen failure.
    if (err instanceof ProgramError) throw err;
    throw listenError(err as NodeJS.ErrnoException, config.listen.host, config.listen.port);
  }
  // A target that is the proxy itself would send each request back in, and again, until the
  // file descriptors run out. Known only now that the port (maybe 0) is bound.
  if (config.target !== undefined && proxy.own.includes(config.target.hostname, config.target.port)) {
    rules?.close();
    await proxy.close(0);
    throw new ProgramError('ERR_BAD_TARGET', `--target ${originUrl(config.target)} is this proxy's own listening address: every request would loop back into it`, 'give the address of the real server, or listen elsewhere with --listen HOST:PORT');
  }
  let journal: Journal | undefined;
  try {
    journal = config.record === undefined ? undefined : openJournal(config, redaction, seed, rules !== undefined, logger);
  } catch (err) {
    rules?.close();
    await proxy.close(0);
    throw err;
  }
  // Bounded by --record-max and --record-min-free (recording-guard.ts): on by default, a
  // recording must not fill the disk.
  const guard = journal === undefined ? undefined : openGuard(config, journal, logger);
  // Redacted before it is written: secrets never reach the disk (docs/recordings.md "Redaction").
  if (journal !== undefined) {
    proxy.events.on('finished', (exchange) => {
      const keep = guard === undefined ? 'full' : guard.admit(exchange.bodies !== undefined);
      if (keep === 'off') {
        journal.index.leftOut(exchange.id);
        return;
      }
      const redacted = redactor.exchange(exchange);
      // The id lets GET /api/exchanges/{id} find the line once the control ring has let go of it.
      journal.appendParts(exchangeLineParts(keep === 'full' ? redacted : { ...redacted, bodies: undefined }), exchange.id);
    });
  }
  const host = address.address;
  const url = `${config.tls === true ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  const mode = config.target ? 'reverse' : 'forward';
  let control: ControlPlane | undefined;
  if (config.control !== undefined) {
    try {
      const c = config.control;
      control = await startControl({ host: c.listen.host, port: c.listen.port, tokenFile: c.tokenFile, ring: c.ring, rulesFilesAnywhere: config.rulesFilesAnywhere === true, ...(c.feedRing !== undefined && { feedRing: c.feedRing }) }, { proxy, mode, seed, redactor, logger, rules: live!, ...(journal !== undefined && { recording: () => recordingLosses(journal, guard), journal: new JournalLineReader(journal) }) });
    } catch (err) {
      rules?.close();
      await proxy.close(0);
      await journal?.close();
      throw err;
    }
  }
  // The seed is logged so a run's chance decisions can be replayed with --seed.
  logger.info(
    {
      url,
      address: host,
      port: address.port,
      mode,
      target: config.target ? originUrl(config.target) : undefined,
      ...(rules !== undefined && { rules: rules.current.size, seed }),
      ...(journal !== undefined && { journal: journal.file }),
      // The web UI's URL carries the token in its fragment, which a browser never sends (RFC 3986
      // §3.5): one click opens the UI, and the token stays out of request lines and access logs.
      ...(control !== undefined && { control: control.url, tokenFile: control.tokenFile, ui: `${control.url}/#token=${control.token}` }),
    },
    'listening',
  );
  if (!redactor.enabled) logger.warn('redaction is off (--no-redact): the journal and logs keep Authorization, cookies, NTLM blobs, API keys and URL tokens as sent; do not share them');
  for (const rule of rules?.current.all ?? []) logger.debug({ rule: rule.id, explain: rule.explain() }, 'rule');
  if (!isLoopback(host)) {
    const allow = config.allow === undefined ? `${DEFAULT_ALLOW.join(' ')} (the default)` : config.allow.map((c) => `${c.address}/${c.prefix}`).join(' ');
    logger.warn(
      { address: host, allow },
      `listening beyond loopback: every client --allow admits (${allow}) can use this proxy to reach anything this machine reaches, its loopback-only services included; narrow it with --allow CIDR`,
    );
  }
  if (config.control !== undefined && !isLoopback(config.control.listen.host)) {
    logger.warn({ control: control?.url }, 'the control server listens beyond loopback: anyone who can reach it and holds the token can change faults and read recorded traffic; keep it on 127.0.0.1 unless you must');
  }
  // Scripts wait for this line: do not leave it in the log's write batch.
  logger.flush();
  return {
    proxy,
    address: { host, port: address.port },
    url,
    ...(rules !== undefined && { rules }),
    seed,
    ...(journal !== undefined && { journal }),
    ...(control !== undefined && { control }),
    redactor,
    close: async (graceMs = config.graceMs) => {
      rules?.close();
      await control?.close();
      await proxy.close(graceMs);
      // After the proxy: exchanges cut short by the shutdown are written too.
      guard?.close();
      await journal?.close();
    },
  };
}

/** What the journal left out since the start, for the control plane's metrics. */
function recordingLosses(journal: Journal, guard: RecordingGuard | undefined): RecordingLosses {
  return { ...journal.lost, lowDiskExchanges: guard?.leftOut.exchanges ?? 0, lowDiskBodies: guard?.leftOut.bodies ?? 0 };
}

function openGuard(config: ProxyConfig, journal: Journal, logger: Logger): RecordingGuard | undefined {
  const { path, maxBytes = 0, minFreeBytes = 0 } = config.record!;
  if (maxBytes === 0 && minFreeBytes === 0) return undefined;
  return new RecordingGuard({
    current: () => journal.file,
    folderMode: !resolveFile(path).explicit,
    maxBytes,
    minFreeBytes,
    append: (line) => journal.append(line),
    deleted: (file) => journal.index.deleted(file),
    logger,
  });
}

function openJournal(config: ProxyConfig, redaction: RedactionConfig, seed: number, withRules: boolean, logger: Logger): Journal {
  const record = config.record!;
  return Journal.open({
    path: record.path,
    // Parts small enough that --record-max can delete old ones while a run goes on.
    rotateBytes: record.maxBytes ? Math.max(1024, Math.min(record.rotateBytes, Math.floor(record.maxBytes / 4))) : record.rotateBytes,
    logger,
    run: {
      tool: TOOL.version,
      mode: config.target ? 'reverse' : 'forward',
      ...(config.target !== undefined && { target: originUrl(config.target) }),
      ...(withRules && { seed }),
      captureBytes: record.captureBytes,
      // extraParams only when given, so the run line of an ordinary run reads as it always did.
      redaction: { enabled: redaction.enabled, extraHeaders: redaction.extraHeaders, ...(redaction.extraParams !== undefined && redaction.extraParams.length > 0 && { extraParams: redaction.extraParams }) },
    },
  });
}

/** One line per exchange at info: what a person scanning the log needs (issue 8, item 3). */
function logExchange(logger: Logger, x: Exchange, redactor: Redactor): void {
  if (!logger.isLevelEnabled('info')) return;
  logger.info(
    {
      xid: x.id,
      method: x.request.method,
      url: redactor.url(x.url),
      status: x.response?.statusCode,
      ms: Math.round((durationOf(x) ?? 0) * 10) / 10,
      up: x.bytes.request,
      down: x.bytes.response,
      err: x.error?.code,
      proto: x.protocol?.summary,
      verdict: x.protocol === undefined ? undefined : worstLevel(x.protocol.verdicts),
      rules: x.rules?.filter((r) => r.outcome !== 'passed').map((r) => (r.outcome === 'applied' ? r.id : `${r.id} (skipped)`)),
    },
    'exchange',
  );
}

/** The most serious verdict level of an exchange, so a reader (or jq) can pick out violations. */
function worstLevel(verdicts: readonly Verdict[]): Verdict['level'] | undefined {
  let worst: Verdict['level'] | undefined;
  for (const v of verdicts) {
    if (v.level === 'violation') return 'violation';
    if (v.level === 'notice' || worst === undefined) worst = v.level;
  }
  return worst;
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): ProgramError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new ProgramError('ERR_ADDRESS_IN_USE', `${where} is already in use by another program`, 'stop it, or choose another port with --listen HOST:PORT (port 0 picks a free one)');
    case 'EACCES':
      return new ProgramError('ERR_LISTEN_FAILED', `not allowed to listen on ${where}`, 'ports below 1024 need privileges; choose a higher port with --listen');
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new ProgramError('ERR_LISTEN_FAILED', `${host} is not an address of this machine`, 'use 127.0.0.1, ::1 or an address this machine has');
    default:
      return new ProgramError('ERR_LISTEN_FAILED', `cannot listen on ${where}: ${err.code ?? ''} ${err.message}`, 'check the --listen address');
  }
}

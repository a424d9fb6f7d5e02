/**
 * `npm run bench`: the orchestrator. Starts the upstream, then for each run measures every
 * subject in turn (the order rotates between runs so no subject always goes first or last),
 * prints progress on stderr, and ends with one markdown table and the acceptance lines on
 * stdout plus .bench/last.json. It never asserts on speed: it measures and reports. The rule
 * probes of issue 4 (probes.ts) run in each run after the subjects; their lines follow the table's.
 *
 * While a subject is measured this process only waits on its children, so the two cores are
 * shared by the upstream, the subject and the load generator alone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesLabel, parseBenchArgs, UsageError, USAGE } from './args.js';
import { loadAverage, machineBusySeconds, ownTreeSeconds } from './cpu.js';
import { createUploadFile, curlVersion } from './curl.js';
import { removeHttpsTempDir, startHttpsUpstream, type HttpsUpstream } from './https.js';
import { measure, type Tools } from './measure.js';
import { isRunning, killAll, startService, stopService, waitForListening } from './proc.js';
import { benchRulesFile, MITMDUMP_ABSENT, subjects as allSubjects, type Context } from './subjects.js';
import { which } from './tools.js';
import { ruleCandidates } from './probe-kit.js';
import { HTTPS_PROBES, isProbeId, probeLines, probeNotes, RULE_PROBES, runProbe, type ProbeRun } from './probes.js';
import { removeHarFiles } from './record-har.js';
import { removeScratch, removeSpent, scratchDir } from './scratch.js';
import { collectRecordJournal, removeRecordJournal, type RecordedRun } from './record-row.js';
import { summarize, type RuleCandidates } from './table.js';
import { ensureTool, offerTool } from './tools.js';
import { wrkVersion } from './wrk.js';
import { runSoak, soakLines, SOAK_DEFAULTS, type SoakResult } from './soak.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const workDir = path.join(root, '.bench');
// On tmpfs when it has room (scratch.ts); chosen in main().
let uploadFile = path.join(workDir, 'upload.bin');

const log = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

// Whatever way this process ends, no child and no 1 GiB file is left behind (nor a journal or HAR).
function cleanUp(): void {
  killAll();
  try {
    fs.rmSync(uploadFile, { force: true });
    removeRecordJournal(workDir);
    removeHarFiles(workDir);
    removeSpent(workDir);
    removeScratch();
    // Issue 22's control tokens (bench/control.ts): of dead proxies, but nobody needs them.
    for (const f of fs.readdirSync(workDir)) if (f.endsWith('.token')) fs.rmSync(path.join(workDir, f), { force: true });
  } catch {
    // Best effort on the way out.
  }
  // The HTTPS rows' CA directories (keys included) and the upstream's test CA.
  removeHttpsTempDir();
}
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

async function main(): Promise<number> {
  let cfg;
  try {
    cfg = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (cfg === 'help') {
    console.log(USAGE);
    return 0;
  }

  fs.mkdirSync(workDir, { recursive: true });
  const wrk = await ensureTool('wrk', 'wrk', log);
  const curl = await ensureTool('curl', 'curl', log);
  // Issue 5 compares with mitmdump "when present": Debian's mitmproxy makes it present.
  if (cfg.only.includes('mitmdump') || cfg.only.includes('mitmdump-https')) await offerTool('mitmdump', 'mitmproxy', log);
  // Room for the upload source and the har-100k probe's files (~1.3 GB).
  uploadFile = path.join(scratchDir(workDir, cfg.streamBytes + 1.3e9), 'upload.bin');
  const tools: Tools = { wrk, curl, uploadFile };
  const streamLabel = bytesLabel(cfg.streamBytes);
  const subjects = allSubjects().filter((s) => cfg.only.includes(s.id));
  const probes = cfg.only.filter(isProbeId);
  if (subjects.length > 0 || probes.length > 0) log(
    `${cfg.runs} run(s) of ${[...subjects.map((s) => s.id), ...probes].join(', ')}; ` +
      `${cfg.connections} connections × ${cfg.loadSeconds} s (after ${cfg.warmupSeconds} s warm-up), ${streamLabel} down and up` +
      (probes.some((p) => RULE_PROBES.includes(p)) ? `; probes: ${cfg.fpseRequests} FPSE requests a side, ${cfg.mapiPolls} long polls a side` : ''),
  );

  const loadBefore = loadAverage();
  if (loadBefore > 0.5) log(`warning: load average ${loadBefore.toFixed(2)} before the run: other programs are using the CPUs, numbers will be noisy`);

  const upstream = startService('upstream', process.execPath, [path.join(root, 'dist', 'bench', 'upstream.js'), '0'], path.join(workDir, 'upstream.log'));
  const upstreamPort = await waitForListening(upstream, 20_000);
  const ctx: Context = { root, workDir, upstreamPort, wrk };
  log(`upstream on 127.0.0.1:${upstreamPort}`);
  // Issue 5: the HTTPS upstream, with a certificate per host address the probes will visit.
  let https: HttpsUpstream | undefined;
  const httpsProbes = probes.filter((p) => HTTPS_PROBES.includes(p));
  if (subjects.some((s) => s.client === 'node-https' && s.unavailable === undefined) || httpsProbes.length > 0) {
    const hosts = httpsProbes.length === 0 ? 0 : Math.max(probes.includes('https-new-host') ? cfg.newHosts : 0, probes.includes('https-hosts-rss') ? cfg.rssHosts : 0) + cfg.hostsWarmup;
    try {
      https = await startHttpsUpstream(root, workDir, hosts);
    } catch (err) {
      await stopService(upstream, 5000);
      throw err;
    }
    ctx.https = https;
    log(`HTTPS upstream on 127.0.0.1:${https.port}, ${hosts} host addresses on port ${https.hostsPort} (test CA ${https.caFile})`);
  }
  // Only subjects that run the streams read the upload file (a 1 GiB read warms the page cache).
  if (subjects.some((s) => s.loadOnly !== true && s.unavailable === undefined)) createUploadFile(uploadFile, cfg.streamBytes);

  const results: RecordedRun[] = [];
  let soak: SoakResult | undefined;
  const probeResults: ProbeRun[] = [];
  const startedAt = new Date();
  const busyBefore = machineBusySeconds();
  const oursBefore = ownTreeSeconds();
  try {
    for (let run = 1; run <= (subjects.length > 0 || probes.length > 0 ? cfg.runs : 0); run++) {
      const shift = (run - 1) % subjects.length;
      const order = [...subjects.slice(shift), ...subjects.slice(0, shift)];
      const probeShift = (run - 1) % Math.max(1, probes.length);
      const probeOrder = [...probes.slice(probeShift), ...probes.slice(0, probeShift)];
      log(`run ${run}/${cfg.runs}: ${[...order.map((s) => s.id), ...probeOrder].join(' → ')}`);
      for (const subject of order) {
        // Without the upstream every later row would fail for a reason that is not its own.
        if (!isRunning(upstream)) throw new Error(`the upstream exited (${String(upstream.child.exitCode ?? upstream.child.signalCode)}): see .bench/upstream.log`);
        if (https !== undefined && !isRunning(https.service)) throw new Error('the HTTPS upstream exited: see .bench/https-upstream.log');
        if (subject.unavailable === undefined) log(` ${subject.label}`);
        const result: RecordedRun = await measure(subject, ctx, cfg, tools, run, log);
        // The proxy has stopped: its journal is complete (issue 6); read, noted and deleted.
        if (subject.id === 'forward-record') {
          await collectRecordJournal(workDir, result);
          if (result.journal !== undefined) log(`  ${subject.label}: note: ${result.notes.at(-1) ?? ''}`);
        }
        results.push(result);
      }
      for (const probe of probeOrder) {
        probeResults.push(await runProbe(probe, ctx, cfg, run, log));
      }
    }
    if (cfg.soakMinutes > 0) {
      log(`soak: ${cfg.soakMinutes} min, recording on, ${SOAK_DEFAULTS.rate} req/s over ${SOAK_DEFAULTS.connections} connections (each replaced after ${SOAK_DEFAULTS.requestsPerConnection} requests)`);
      soak = await runSoak(root, workDir, upstreamPort, { minutes: cfg.soakMinutes, ...SOAK_DEFAULTS }, log);
    }
  } finally {
    await stopService(upstream, 5000);
    if (https !== undefined) await stopService(https.service, 5000);
    fs.rmSync(uploadFile, { force: true });
    removeHttpsTempDir();
    // What was set aside during the run (the recording row's journals), now that nothing is measured.
    removeSpent(workDir);
    removeScratch();
  }

  // Measured after every child has exited, so that their CPU time is in ours.
  const foreignCpus = otherCpuUse(busyBefore, oursBefore, (Date.now() - startedAt.getTime()) / 1000);
  const rulesSubject = subjects.find((s) => s.rules !== undefined);
  const candidates: RuleCandidates | undefined = rulesSubject?.rules === undefined ? undefined : await ruleCandidates(benchRulesFile(ctx, rulesSubject.rules.file));
  const summary = summarize(results, subjects, streamLabel, candidates, which('mitmdump') === undefined ? MITMDUMP_ABSENT : undefined);
  const probeAcceptance = probeLines(probeResults, probes);
  const notes = [...summary.notes, ...probeNotes(probeResults)];
  const machineLine =
    foreignCpus === undefined
      ? undefined
      : `Other programs used ${foreignCpus.toFixed(2)} of ${os.cpus().length} CPUs on average during the run` +
        `${foreignCpus > 0.1 ? ': numbers are noisier than usual' : ''} (load average before: ${loadBefore.toFixed(2)}).`;
  const header = cfg.quick ? [`_Quick run (${cfg.loadSeconds} s loads, ${streamLabel} streams, ${cfg.runs} run): indicative only._`, ''] : [];
  const out = [
    ...header,
    ...(subjects.length > 0 ? [summary.table, ''] : []),
    ...(subjects.length > 0 ? summary.acceptance : []),
    ...probeAcceptance,
    ...(soak !== undefined ? ['', ...soakLines(soak)] : []),
    ...(summary.cpu !== undefined ? ['', summary.cpu] : []),
    ...(machineLine !== undefined ? [machineLine] : []),
    ...(notes.length > 0 ? ['', 'Notes:', ...notes.map((n) => `- ${n}`)] : []),
  ];
  console.log(out.join('\n'));

  const record = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    config: cfg,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryBytes: os.totalmem(),
      kernel: os.release(),
      node: process.version,
      wrk: await wrkVersion(wrk),
      curl: await curlVersion(curl),
    },
    units: { rps: 'requests/s', latency: 'ms (table) / µs (raw)', throughput: 'MB/s, MB = 10^6 bytes', rss: 'MB (table) / bytes (raw)' },
    loadAverageBefore: loadBefore,
    otherProgramsCpus: foreignCpus,
    table: summary.table,
    acceptance: [...summary.acceptance, ...probeAcceptance],
    notes,
    rows: summary.rows,
    ruleCandidates: candidates,
    runs: results,
    probes: probeResults,
    ...(soak !== undefined && { soak }),
  };
  fs.writeFileSync(path.join(workDir, 'last.json'), `${JSON.stringify(record, null, 2)}\n`);
  log(`raw numbers in ${path.relative(process.cwd(), path.join(workDir, 'last.json')) || '.bench/last.json'}`);
  return 0;
}

/** Average CPUs busy with programs other than the harness and its children since the start. */
function otherCpuUse(busyBefore: number | undefined, oursBefore: number | undefined, seconds: number): number | undefined {
  const busyAfter = machineBusySeconds();
  const oursAfter = ownTreeSeconds();
  if (busyBefore === undefined || oursBefore === undefined || busyAfter === undefined || oursAfter === undefined || seconds <= 0) return undefined;
  return Math.max(0, busyAfter - busyBefore - (oursAfter - oursBefore)) / seconds;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
    cleanUp();
  },
);
